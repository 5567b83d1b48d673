/* A few SVG drawing helpers for the HTML report: plots with labelled
 * axes, lines, markers, heat maps and legends, written straight to a
 * FILE. Coordinates are in data units mapped into a plot box. */
#ifndef PT_SVG_H
#define PT_SVG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct svg_plot {
    FILE *f;
    double x0, x1, y0, y1;  /* data ranges */
    bool ylog2;             /* y axis in powers of two */
    int w, h;               /* whole SVG */
    int left, right, top, bottom; /* margins */
} svg_plot;

/* Opens an <svg> with a title, axes, ticks and axis labels (with units). */
void svg_begin(svg_plot *p, FILE *f, int w, int h, double x0, double x1, double y0, double y1,
               bool ylog2, const char *title, const char *xlabel, const char *ylabel);
void svg_end(svg_plot *p);
double svg_x(const svg_plot *p, double x);
double svg_y(const svg_plot *p, double y);
/* A polyline through (xs[i], ys[i]); NaN/inf points break the line. */
void svg_line(svg_plot *p, const double *xs, const double *ys, int n, const char *color, double width,
              const char *dash);
void svg_marker(svg_plot *p, double x, double y, const char *color, const char *title);
/* Legend entries at the top right of the plot box. */
void svg_legend(svg_plot *p, int index, const char *color, const char *label, bool dashed);
/* The i-th of n distinct colors. */
const char *svg_color(int i);
/* A white-to-red color for a fraction in [0, 1] on a log scale from 1e-6. */
void svg_heat_color(double frac, char out[16]);
/* s with <, >, &, " and ' as character references: safe as HTML or SVG
 * text and inside a quoted attribute value. Every string the report takes
 * from a spec, a policy, a database or a CSV goes through it. */
void svg_escape(FILE *f, const char *s);

#endif
