// CNIfTI: libnifti2 (reads NIfTI-1 and NIfTI-2), imported only by NIfTIIO.
// The library's headers include <znzlib.h> with angle brackets, hence -I/usr/include/nifti.
#pragma once
#include <nifti2_io.h>
