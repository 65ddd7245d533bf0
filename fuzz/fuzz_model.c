/* Fuzz target: a checkpoint (safetensors or .pt) loaded and built into a model
 * (af_model_build), so fuzzed descriptions, names and tensor shapes reach the
 * description parser and the layer builder (oneDNN weights included). */
#include <stdint.h>
#include <stddef.h>

#include "model/checkpoint.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    af_checkpoint ck;
    af_error err = {0};
    if (af_checkpoint_load_memory(data, size, "fuzz.safetensors", &ck, &err) != AF_OK)
        return 0;
    af_model *m = NULL;
    if (af_model_build(&ck, &m, &err) == AF_OK)
        af_model_free(m);
    af_checkpoint_free(&ck);
    return 0;
}
