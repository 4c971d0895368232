// CPNG: libpng's write API, imported only by Volumetry (PNGWriter) for docs and QC pictures.
// libpng reports errors by longjmp; Volumetry never lets one cross Swift frames: it uses the
// simplified API (png_image_write_to_memory), which catches its own errors and returns 0.
#include <png.h>
