// CMalloc: glibc's <malloc.h> (mallopt and its M_* parameters), which the Glibc module leaves out.
#include <malloc.h>
