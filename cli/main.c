/* pt2returnn: convert PyTorch models exported with torch.export into RETURNN configs and
 * TensorFlow checkpoints, verifying every step against PyTorch's own values. */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli.h"

static const char main_help[] =
    "usage: pt2returnn COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  inspect FILE      show what a .pt2, torch.save or .safetensors file holds\n"
    "  run MODEL.pt2     run the exported program with PyTorch semantics (reference run)\n"
    "  convert MODEL.pt2 -o DIR   write RETURNN configs and a TF checkpoint, proving each step\n"
    "                    (reference run, per-layer checks, reload; real RETURNN on request)\n"
    "\n"
    "options:\n"
    "  -h, --help        show this help\n"
    "  --version         print the version\n"
    "\n"
    "'pt2returnn COMMAND --help' describes each command.\n"
    "exit codes: 0 ok, 1 a verification failed, 2 bad or unsupported input, 3 internal error\n";

int main(int argc, char **argv) {
#ifdef __GLIBC__
    /* The runs free and take tensors of the same sizes node after node. glibc would hand each
     * large one back to the kernel (mmap and trim), so every next tensor page-faulted its memory
     * in anew: a fifth of a conversion's time. Kept in the heap, freed memory is reused. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(main_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("pt2returnn 0.1.0");
        return 0;
    }
    if (!strcmp(argv[1], "inspect")) return pt2_cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(argv[1], "run")) return pt2_cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "convert")) return pt2_cmd_convert(argc - 2, argv + 2);

    fprintf(stderr, "pt2returnn: unknown command '%s' (see 'pt2returnn --help')\n", argv[1]);
    return 2;
}
