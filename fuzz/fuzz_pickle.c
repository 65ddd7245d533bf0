/* Fuzz target: the restricted pickle reader (af_pickle_load), then the JSON
 * conversion and the lookup helpers over whatever tree came out. */
#include <stdint.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    af_pickle doc;
    af_error err = {0};
    if (af_pickle_load(data, size, "fuzz.pkl", NULL, &doc, &err) != AF_OK)
        return 0;
    cJSON *j = NULL;
    if (af_pk_to_json(doc.root, 64, &j, &err) == AF_OK)
        cJSON_Delete(j);
    const af_pk_value *m = af_pk_dict_get(doc.root, "model");
    char name[128];
    (void)af_pk_class_name(m, name, sizeof name);
    (void)af_pk_str(af_pk_dict_get(doc.root, "version"));
    (void)af_pk_dict_get_int(doc.root, 0);
    int64_t i;
    (void)af_pk_get_int(doc.root, &i);
    af_pickle_free(&doc);
    return 0;
}
