/* Fuzz target: data.yaml (libyaml + the ultralytics rules) through
 * af_data_config_load. The parser takes a path, so the input is written to
 * TMP/af_fuzz_XXXXXX/data.yaml; that folder also holds images/, images/train,
 * images/val and labels/ so that relative split paths can exist. */
#include <stdint.h>
#include <stddef.h>

#include "data/dataset.h"
#include "fuzz_tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_tmp("data.yaml", data, size);
    af_data_config cfg;
    af_error err = {0};
    if (af_data_config_load(path, &cfg, &err) == AF_OK) {
        (void)af_data_config_split(&cfg, "val");
        af_data_config_free(&cfg);
    }
    return 0;
}
