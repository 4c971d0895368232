// COpenBLAS: the CBLAS surface of OpenBLAS, imported only by NeuralEngine.
#include <cblas.h>
