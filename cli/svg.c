/* SVG helpers (see svg.h). */
#include "svg.h"

#include <math.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};

const char *svg_color(int i) { return palette[(unsigned)i % (sizeof palette / sizeof palette[0])]; }

/* The one escaping of the report: every string that comes from a model
 * spec, a policy, a database or a CSV goes through here, in text and in
 * attribute values alike, so that none of it can open an element, close
 * one, or leave an attribute. */
void svg_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

double svg_x(const svg_plot *p, double x)
{
    double span = p->x1 > p->x0 ? p->x1 - p->x0 : 1;
    return p->left + (x - p->x0) / span * (p->w - p->left - p->right);
}

double svg_y(const svg_plot *p, double y)
{
    double a = p->y0, b = p->y1, v = y;
    if (p->ylog2) a = log2(a), b = log2(b), v = log2(y);
    double span = b > a ? b - a : 1;
    return p->h - p->bottom - (v - a) / span * (p->h - p->top - p->bottom);
}

/* At most this many grid lines an axis, whatever the range (a run's
 * values can be 0, huge or not finite: the loops below always end). */
#define SVG_MAX_TICKS 64

/* The tick step for [a, b], or 0 when there is none to draw (a range not
 * finite, or one whose step does not advance at its magnitude). */
static double nice_step(double a, double b)
{
    if (!isfinite(a) || !isfinite(b) || !isfinite(b - a)) return 0;
    double span = b - a > 0 ? b - a : 1, raw = span / 6, mag = pow(10, floor(log10(raw)));
    double n = raw / mag;
    double step = (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * mag;
    if (!isfinite(step) || !(step > 0) || !isfinite(ceil(a / step) * step)) return 0;
    return step;
}

void svg_begin(svg_plot *p, FILE *f, int w, int h, double x0, double x1, double y0, double y1,
               bool ylog2, const char *title, const char *xlabel, const char *ylabel)
{
    *p = (svg_plot){f, x0, x1, y0, y1, ylog2, w, h, 70, 20, 34, 46};
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">", p->left);
    svg_escape(f, title);
    fputs("</text>\n", f);
    int px0 = p->left, px1 = w - p->right, py0 = p->top, py1 = h - p->bottom;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            px0, py0, px1 - px0, py1 - py0);
    double step = nice_step(x0, x1);
    double first = step > 0 ? ceil(x0 / step) * step : 0;
    for (int k = 0; step > 0 && k < SVG_MAX_TICKS; k++) {
        double t = first + k * step;
        if (t > x1 + 1e-9 * step) break;
        double x = svg_x(p, t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                x, py0, x, py1, x, py1 + 14, t);
    }
    if (ylog2) {
        double la = log2(y0), lb = log2(y1);
        if (isfinite(la) && isfinite(lb) && la <= lb) { /* doubles' exponents: within +-1100 */
            int a = (int)floor(la), b = (int)ceil(lb);
            int every = (b - a) > 12 ? (b - a) / 6 : 1;
            for (int e = a; e <= b; e += every) {
                double y = svg_y(p, ldexp(1, e));
                fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">2^%d</text>\n",
                        px0, y, px1, y, px0 - 4, y + 4, e);
            }
        }
    } else {
        step = nice_step(y0, y1);
        first = step > 0 ? ceil(y0 / step) * step : 0;
        for (int k = 0; step > 0 && k < SVG_MAX_TICKS; k++) {
            double t = first + k * step;
            if (t > y1 + 1e-9 * step) break;
            double y = svg_y(p, t);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                       "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                    px0, y, px1, y, px0 - 4, y + 4, fabs(t) < 1e-12 * step ? 0.0 : t);
        }
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (px0 + px1) / 2, h - 8);
    svg_escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">",
            (py0 + py1) / 2);
    svg_escape(f, ylabel);
    fputs("</text>\n", f);
}

void svg_end(svg_plot *p) { fputs("</svg>\n", p->f); }

void svg_line(svg_plot *p, const double *xs, const double *ys, int n, const char *color,
              double width, const char *dash)
{
    bool open = false;
    for (int i = 0; i < n; i++) {
        bool ok = isfinite(xs[i]) && isfinite(ys[i]) && (!p->ylog2 || ys[i] > 0);
        if (ok && !open) {
            fprintf(p->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s points=\"",
                    color, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
            open = true;
        }
        if (ok) fprintf(p->f, "%.1f,%.1f ", svg_x(p, xs[i]), svg_y(p, ys[i]));
        if (!ok && open) {
            fputs("\"/>\n", p->f);
            open = false;
        }
    }
    if (open) fputs("\"/>\n", p->f);
}

void svg_marker(svg_plot *p, double x, double y, const char *color, const char *title)
{
    fprintf(p->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", svg_x(p, x),
            svg_y(p, y), color);
    svg_escape(p->f, title);
    fputs("</title></circle>\n", p->f);
}

void svg_legend(svg_plot *p, int index, const char *color, const char *label, bool dashed)
{
    int x = p->w - p->right - 170, y = p->top + 14 + 15 * index;
    fprintf(p->f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                  "<text x=\"%d\" y=\"%d\">", x, y - 4, x + 22, y - 4, color,
            dashed ? " stroke-dasharray=\"5,3\"" : "", x + 28, y);
    svg_escape(p->f, label);
    fputs("</text>\n", p->f);
}

void svg_heat_color(double frac, char out[16])
{
    if (!(frac > 0)) {
        strcpy(out, "#ffffff");
        return;
    }
    double t = (log10(frac) + 6) / 6; /* 1e-6 -> 0, 1 -> 1 */
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    int g = (int)(235 * (1 - t)), b = (int)(160 * (1 - t));
    snprintf(out, 16, "#ff%02x%02x", g + 20 > 255 ? 255 : g + 20, b);
}
