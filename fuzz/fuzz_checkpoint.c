/* Fuzz target: checkpoints in memory (torch zip + restricted pickle `.pt`, and
 * safetensors) through af_checkpoint_load_memory. */
#include <stdint.h>
#include <stddef.h>

#include "model/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    af_checkpoint ck;
    af_error err = {0};
    if (af_checkpoint_load_memory(data, size, "fuzz.pt", &ck, &err) == AF_OK) {
        (void)af_checkpoint_bn_eps(&ck, "model.0.bn");
        af_checkpoint_free(&ck);
    }
    return 0;
}
