// CDCMTK: a plain C surface over DCMTK (C++) and OpenJPEG, imported only by DICOMIO.
//
// Why a shim: DCMTK is C++ (classes, OFCondition, exceptions from the standard library);
// Swift only sees the functions below. Every function catches everything, reports status as an
// int (SEGVOL_DCM_*) plus a short message that never contains attribute values, and owns no
// state beyond the opaque handle.
#pragma once
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Status codes returned by the shim (0 = success).
enum {
    SEGVOL_DCM_OK = 0,
    SEGVOL_DCM_ERR_OPEN = 1,        ///< the file could not be opened or parsed as DICOM
    SEGVOL_DCM_ERR_NO_PIXELS = 2,   ///< no (7FE0,0010) Pixel Data element
    SEGVOL_DCM_ERR_DECODE = 3,      ///< the codec failed (truncated or corrupt pixel data)
    SEGVOL_DCM_ERR_UNSUPPORTED = 4, ///< no decoder for this transfer syntax / layout
    SEGVOL_DCM_ERR_BUFFER = 5,      ///< caller's buffer does not match the frame size
};

/// An opened DICOM file (dataset loaded lazily: values over 4 KiB are read on demand).
typedef struct segvol_dcm segvol_dcm;

/// The DCMTK version string (e.g. "3.6.7").
const char *segvol_dcmtk_version(void);

/// Opens and parses `path` (with or without the 128-byte preamble and meta header).
/// On failure returns non-zero, `*out` is NULL and `msg` holds DCMTK's reason.
int segvol_dcm_open(const char *path, segvol_dcm **out, char *msg, size_t msglen);

/// Releases a handle from `segvol_dcm_open` (NULL is ignored).
void segvol_dcm_close(segvol_dcm *file);

/// Copies the transfer syntax UID (meta header's, else the detected encoding) to `buf`.
void segvol_dcm_transfer_syntax(segvol_dcm *file, char *buf, size_t len);

/// Reads an attribute as a string (multi-valued joined by '\'), following a path of
/// sequences: `tags[0..depth-1]` with `items[0..depth-2]` the item index inside each
/// sequence tag (tag = group << 16 | element). Returns the full value length (the copy in
/// `buf` is truncated to `len - 1`), or -1 when absent or empty.
long segvol_dcm_string(segvol_dcm *file, const uint32_t *tags, const uint32_t *items, size_t depth,
                       char *buf, size_t len);

/// Number of items in the sequence at the path (same encoding as `segvol_dcm_string`);
/// -1 when the sequence is absent.
long segvol_dcm_item_count(segvol_dcm *file, const uint32_t *tags, const uint32_t *items, size_t depth);

/// 1 when the top-level dataset contains `tag` (with any value), else 0.
int segvol_dcm_has(segvol_dcm *file, uint32_t tag);

/// Decodes frame `frame` (0-based) of the pixel data into `buf`: Rows*Columns samples of
/// BitsAllocated/8 bytes each, host byte order, stored values (no rescale, no masking).
/// Handles native, deflated, big-endian, RLE, JPEG, JPEG-LS (DCMTK codecs) and
/// JPEG 2000 (OpenJPEG on the encapsulated fragments).
int segvol_dcm_decode_frame(segvol_dcm *file, uint32_t frame, void *buf, size_t bytes,
                            char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif

#include "CDCMTKWriter.h"
