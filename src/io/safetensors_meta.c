/* Changing one metadata entry of a safetensors file in place (atomically). */
#include <string.h>

#include "core/error.h"
#include "io/safetensors.h"

af_status af_safetensors_set_metadata(const char *path, const char *key, const char *value,
                                      af_error *err)
{
    af_safetensors sf = {0};
    af_status st = af_safetensors_read_file(path, &sf, err);
    if (st)
        return st;
    if (!sf.metadata && !(sf.metadata = cJSON_CreateObject())) {
        af_safetensors_free(&sf);
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", path);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(sf.metadata, key);
    if (!cJSON_AddStringToObject(sf.metadata, key, value))
        st = af_fail(err, AF_E_NOMEM, "%s: out of memory", path);
    if (!st)
        st = af_safetensors_write_file(path, &sf.tensors, sf.metadata, err);
    af_safetensors_free(&sf);
    return st;
}
