/* Fuzz target: YOLO label text files through af_labels_read. The first input
 * byte picks nc (byte % 8, so 0..7 classes); the rest is the file, written to
 * TMP/af_fuzz_XXXXXX/labels.txt because the reader takes a path. */
#include <stdint.h>
#include <stddef.h>

#include "data/dataset.h"
#include "fuzz_tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int nc = data[0] % 8;
    const char *path = fuzz_write_tmp("labels.txt", data + 1, size - 1);
    af_label_result res;
    af_issue_list issues = {0};
    af_error err = {0};
    if (af_labels_read(path, nc, &res, &issues, &err) == AF_OK)
        af_label_set_free(&res.lb);
    af_issue_list_free(&issues);
    return 0;
}
