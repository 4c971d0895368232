// CDCMTK: a plain C surface over DCMTK (C++), imported only by DICOMIO.
// No C++ exception or OFCondition crosses this header.
#pragma once
#ifdef __cplusplus
extern "C" {
#endif
/// The DCMTK version string (e.g. "3.6.7").
const char *segvol_dcmtk_version(void);
#include "CDCMTKWriter.h"
#ifdef __cplusplus
}
#endif
