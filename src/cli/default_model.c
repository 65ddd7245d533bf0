/* The bundled default model, compiled into the executable so that
 * `animeface predict photo.jpg` needs no other file. The bytes are the file
 * models/default.safetensors (see models/README.md). */
#include "cli/default_model.h"

__asm__(".section .rodata\n"
        ".balign 64\n"
        "af_default_model_start:\n"
        ".incbin \"models/default.safetensors\"\n"
        "af_default_model_end:\n"
        ".previous\n");

extern const unsigned char af_default_model_start[];
extern const unsigned char af_default_model_end[];

const unsigned char *cli_default_model(size_t *size)
{
    *size = (size_t)(af_default_model_end - af_default_model_start);
    return af_default_model_start;
}
