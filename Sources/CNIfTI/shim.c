#include "CNIfTI.h"
