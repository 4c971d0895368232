// CDCMTK writer surface: one single-frame MR/CT image per call, written through DCMTK.
// Used by the phantoms (synthetic DICOM series) and by `segvol bench io`.
#pragma once
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// One slice to write. Strings may be NULL (the attribute is then left empty or generated).
/// Geometry is in DICOM patient space (LPS+, mm), as DICOM stores it.
typedef struct segvol_dcm_slice {
    const char *modality;            // "MR" or "CT" (chooses the SOP class)
    const char *study_uid;
    const char *series_uid;
    const char *sop_instance_uid;    // NULL: a new UID is generated
    const char *frame_of_reference_uid;
    const char *patient_id;
    const char *patient_name;
    const char *study_date;          // YYYYMMDD
    const char *series_description;
    const char *body_part;
    const char *manufacturer;
    int series_number;
    int instance_number;
    int rows;
    int columns;
    double pixel_spacing[2];         // (row spacing, column spacing), mm
    double slice_thickness;
    double position[3];              // ImagePositionPatient, LPS mm, centre of the first pixel
    double orientation[6];           // ImageOrientationPatient: row cosines then column cosines
    double rescale_slope;
    double rescale_intercept;
    int pixel_signed;                // PixelRepresentation: 0 unsigned, 1 two's complement
    const char *transfer_syntax;     // UID; NULL: explicit VR little endian
} segvol_dcm_slice;

/// Writes `s` with `rows*columns` 16-bit stored values. Returns 0 on success; otherwise a
/// nonzero code with a sentence in `err` (never an exception).
int segvol_dcm_write_slice(const char *path, const segvol_dcm_slice *s, const uint16_t *pixels,
                           char *err, size_t err_len);

/// Writes a new globally unique UID (DCMTK's registered root) into `out` (64 bytes suffice).
void segvol_dcm_new_uid(char *out, size_t len);

#ifdef __cplusplus
}
#endif
