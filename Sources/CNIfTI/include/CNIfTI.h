// CNIfTI: libnifti2 (reads NIfTI-1 and NIfTI-2), zlib (bounded streaming inflate) and
// libdeflate (fast gzip output), imported only by NIfTIIO.
// The library's headers include <znzlib.h> with angle brackets, hence -I/usr/include/nifti.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include <libdeflate.h>
#include <nifti2_io.h>

/// Converts a raw on-disk header (348 bytes for NIfTI-1, 540 for NIfTI-2, either byte order)
/// into a `nifti_image` without touching any file. Exists because `nifti_2_header` is a packed
/// struct Swift cannot build safely, and because libnifti takes headers by value: the copy into
/// the struct happens here. Returns NULL when `len` is too small or libnifti rejects the header.
/// The caller has already validated the header (sizes, dims, offsets) in Swift.
nifti_image *cnifti_header_to_image(const void *bytes, size_t len, int version, const char *fname);

/// The nifti_image's transforms and codes, copied out as row-major doubles.
/// Exists so Swift never reads libnifti's nested fixed-size arrays as tuples.
void cnifti_image_transforms(const nifti_image *nim, double qto_xyz[16], double sto_xyz[16],
                             int *qform_code, int *sform_code, double *qfac);

/// Quaternion parameters of the rotation nearest to the 3x3 part of `affine` (row-major 4x4):
/// out = {qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac}. Wraps `nifti_dmat44_to_quatern`, which
/// polar-decomposes a non-orthogonal matrix to its nearest orthogonal one.
void cnifti_affine_to_quatern(const double affine[16], double out[10]);

/// `inflateInit2(strm, 16 + MAX_WBITS)`: gzip-only inflation. Exists because zlib's init
/// functions are macros Swift cannot import.
int cnifti_inflate_init_gzip(z_stream *strm);

