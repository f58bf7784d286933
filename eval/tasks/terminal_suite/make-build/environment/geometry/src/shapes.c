#include <math.h>
#include "shapes.h"

double rect_area(double w, double h) {
    return fabs(w * h);
}
