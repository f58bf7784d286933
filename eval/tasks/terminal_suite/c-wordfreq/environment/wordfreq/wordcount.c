#include <stdio.h>

int main(void) {
    int c, words = 0;
    while ((c = getchar()) != EOF) {
        if (c == ' ' || c == '\n')
            words++;
    }
    printf("%d\n", words);
    return 0;
}
