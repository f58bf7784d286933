#include <stdio.h>
#include <stdlib.h>
#include "shapes.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: area WIDTH HEIGHT\n");
        return 2;
    }
    printf("%.2f\n", rect_area(atof(argv[1]), atof(argv[2])));
    return 0;
}
