/* Internal access to a detection context's forward pass (for int8
 * calibration, which runs af_detect's exact preprocessing while it watches
 * each convolution's input: af_forward_observe). */
#ifndef AF_DETECT_CONTEXT_H
#define AF_DETECT_CONTEXT_H

#include "animeface.h"
#include "model/forward.h"

af_forward *af_context_forward(af_context *c);

#endif
