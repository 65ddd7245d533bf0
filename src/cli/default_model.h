#ifndef AF_CLI_DEFAULT_MODEL_H
#define AF_CLI_DEFAULT_MODEL_H

#include <stddef.h>

#define CLI_DEFAULT_MODEL_NAME "animeface-default (yolov8n face)"

/* Bytes of the bundled safetensors model. */
const unsigned char *cli_default_model(size_t *size);

#endif
