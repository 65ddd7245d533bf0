/* Fuzz target: the safetensors parser (af_safetensors_parse). */
#include <stdint.h>
#include <stddef.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    af_safetensors st;
    af_error err = {0};
    if (af_safetensors_parse(data, size, "fuzz.safetensors", &st, &err) == AF_OK)
        af_safetensors_free(&st);
    return 0;
}
