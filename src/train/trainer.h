/* The training run (trainer.c). Its API is public, in include/animeface-train.h
 * (libanimeface-train); this header is what the library's own files include. */
#ifndef AF_TRAIN_TRAINER_H
#define AF_TRAIN_TRAINER_H

#include "animeface-train.h"
#include "train/augment.h"

#endif
