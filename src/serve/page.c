/* The page at /: src/serve/page.html compiled into the executable (no
 * external assets), as the bundled model is (cli/default_model.c). */
#include "serve/state.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        "af_serve_page_start:\n"
        ".incbin \"src/serve/page.html\"\n"
        "af_serve_page_end:\n"
        ".previous\n");

extern const char af_serve_page_start[];
extern const char af_serve_page_end[];

const char *serve_page(size_t *len)
{
    *len = (size_t)(af_serve_page_end - af_serve_page_start);
    return af_serve_page_start;
}
