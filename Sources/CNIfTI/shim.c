#include "CNIfTI.h"
#include <string.h>

nifti_image *cnifti_header_to_image(const void *bytes, size_t len, int version, const char *fname) {
    if (version == 1) {
        nifti_1_header h;
        if (len < sizeof h) return NULL;
        memcpy(&h, bytes, sizeof h);
        return nifti_convert_n1hdr2nim(h, fname);
    }
    if (version == 2) {
        nifti_2_header h;
        if (len < sizeof h) return NULL;
        memcpy(&h, bytes, sizeof h);
        return nifti_convert_n2hdr2nim(h, fname);
    }
    return NULL;
}

void cnifti_image_transforms(const nifti_image *nim, double qto_xyz[16], double sto_xyz[16],
                             int *qform_code, int *sform_code, double *qfac) {
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 4; c++) {
            qto_xyz[4 * r + c] = nim->qto_xyz.m[r][c];
            sto_xyz[4 * r + c] = nim->sto_xyz.m[r][c];
        }
    }
    *qform_code = nim->qform_code;
    *sform_code = nim->sform_code;
    *qfac = nim->qfac;
}

void cnifti_affine_to_quatern(const double affine[16], double out[10]) {
    nifti_dmat44 R;
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 4; c++) R.m[r][c] = affine[4 * r + c];
    }
    nifti_dmat44_to_quatern(R, &out[0], &out[1], &out[2], &out[3], &out[4], &out[5],
                            &out[6], &out[7], &out[8], &out[9]);
}

int cnifti_inflate_init_gzip(z_stream *strm) {
    return inflateInit2(strm, 16 + MAX_WBITS);
}
