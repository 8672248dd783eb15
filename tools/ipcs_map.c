/*
 * ipcs_map.c — dshm-ipcs --map: a picture of the arena, one cell per frame
 * or, when there are more than fit (MAP_COLS x MAP_ROWS), per group of
 * frames, with a legend from letters to owners: paging processes ("pid
 * 101") and segments ("shmid 1024 key 0x5e5e0001").
 *
 * Each owner gets a letter (and, on a terminal, a colour) in the order its
 * frames first appear in the arena; a cell shows the owner of most of its
 * used frames, and '.' only when all of its frames are free, so used
 * memory never looks free.  An owner outvoted in every cell it shares is
 * still in the legend, with its frame count.  Frames are read one by one
 * without a lock: on a busy server the picture is a moment's, not a
 * consistent, view.
 */
#include <stdlib.h>
#include <string.h>

#include "ipcs.h"

#define MAP_COLS 64
#define MAP_ROWS 32

static const char LETTERS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define NLETTERS (sizeof(LETTERS) - 1)
static const int COLORS[] = {31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96};
#define NCOLORS (sizeof(COLORS) / sizeof(COLORS[0]))

/*
 * Writes the character of the owner with letter index i (-1: free).  On a
 * terminal, *cur is the colour in effect (0: none), so that a run of one
 * owner's cells costs one escape sequence.
 */
static void
put_cell(FILE *f, int64_t i, bool color, int *cur)
{
	char c = i < 0 ? '.' : i < (int64_t)NLETTERS ? LETTERS[i] : '#';
	int want = color && i >= 0 ? COLORS[i % NCOLORS] : 0;

	if (want != *cur) {
		if (want == 0)
			fputs("\033[0m", f);
		else
			fprintf(f, "\033[1;%dm", want);
		*cur = want;
	}
	fputc(c, f);
}

static void
color_off(FILE *f, int *cur)
{
	if (*cur != 0)
		fputs("\033[0m", f);
	*cur = 0;
}

/* Ends a line of cells: colours off first. */
static void
end_line(FILE *f, int *cur)
{
	color_off(f, cur);
	fputc('\n', f);
}

/* The slot frame f belongs to, or -1 when free (or owned by no valid slot). */
static int64_t
slot_of_frame(const struct table *t, uint64_t f)
{
	uint32_t fo = atomic_load(&t->frame_owner[f]);

	return fo != 0 && fo - 1 < t->hdr->max_owners ? (int64_t)fo - 1 : -1;
}

/* The legend's words for owner slot s, which holds n frames of the picture. */
static void
legend_entry(FILE *f, const struct table *t, uint32_t s, uint64_t n)
{
	const struct owner *o = &t->owners[s];
	const char *plural = n == 1 ? "" : "s";

	if (atomic_load(&o->state) != OWNER_USED)
		fprintf(f, "  slot %u (being freed): %llu frame%s\n", s, (unsigned long long)n, plural);
	else if (atomic_load(&o->kind) == OWNER_SEGMENT)
		fprintf(f, "  shmid %lld key 0x%08x%s: %llu frame%s\n", (long long)atomic_load(&o->id),
			(unsigned)__atomic_load_n(&t->segments[s].key, __ATOMIC_RELAXED),
			(__atomic_load_n(&t->segments[s].mode, __ATOMIC_RELAXED) & SEG_MODE_DEST) ?
				" (dest)" : "",
			(unsigned long long)n, plural);
	else
		fprintf(f, "  pid %lld: %llu frame%s\n", (long long)atomic_load(&o->id),
			(unsigned long long)n, plural);
}

void
ipcs_print_map(FILE *f, const struct ipcs *v, bool color)
{
	const struct table *t = &v->t;
	uint64_t nframes = t->hdr->nframes, group, ncells, cols, nfree = 0;
	uint32_t max = t->hdr->max_owners, nletters = 0;
	int64_t *letter = malloc((max ? max : 1) * sizeof(*letter));    /* slot -> letter index */
	uint64_t *count = calloc(max ? max : 1, sizeof(*count));        /* per slot, in one cell */
	uint64_t *total = calloc(max ? max : 1, sizeof(*total));        /* per slot, everywhere */
	uint32_t *by_letter = malloc((max ? max : 1) * sizeof(*by_letter)); /* letter -> slot */
	uint32_t *touched = malloc((max ? max : 1) * sizeof(*touched)); /* slots counted in a cell */
	int width, cur = 0;

	if (letter == NULL || count == NULL || total == NULL || by_letter == NULL ||
	    touched == NULL) {
		fprintf(stderr, "dshm-ipcs: out of memory for the map\n");
		goto out;
	}
	for (uint32_t s = 0; s < max; s++)
		letter[s] = -1;
	group = nframes <= MAP_COLS * MAP_ROWS ? 1 : (nframes + MAP_COLS * MAP_ROWS - 1) /
							   (MAP_COLS * MAP_ROWS);
	ncells = nframes == 0 ? 0 : (nframes + group - 1) / group;
	cols = ncells < MAP_COLS ? ncells : MAP_COLS;
	width = snprintf(NULL, 0, "%llu", (unsigned long long)nframes);

	fprintf(f, "arena: %llu frames of %u bytes; one cell is %llu frame%s\n",
		(unsigned long long)nframes, t->hdr->frame_size, (unsigned long long)group,
		group == 1 ? "" : "s");
	for (uint64_t cell = 0; cell < ncells; cell++) {
		uint64_t lo = cell * group, hi = lo + group < nframes ? lo + group : nframes;
		int64_t best = -1;
		uint32_t ntouched = 0;

		if (cell % cols == 0)
			fprintf(f, "%*llu ", width, (unsigned long long)lo);
		for (uint64_t fr = lo; fr < hi; fr++) {
			int64_t s = slot_of_frame(t, fr);

			if (s < 0) {
				nfree++;
				continue;
			}
			if (letter[s] < 0) {
				by_letter[nletters] = (uint32_t)s;
				letter[s] = nletters++;
			}
			total[s]++;
			if (count[s] == 0)
				touched[ntouched++] = (uint32_t)s;
			if (++count[s] > (best < 0 ? 0 : count[best]))
				best = s;
		}
		while (ntouched > 0)
			count[touched[--ntouched]] = 0;
		put_cell(f, best < 0 ? -1 : letter[best], color, &cur);
		if (cell % cols == cols - 1 || cell == ncells - 1)
			end_line(f, &cur);
	}

	fprintf(f, "\nlegend%s:\n", group == 1 ? "" :
		" (a cell shows the owner of most of its used frames; '.' when all are free)");
	for (uint32_t i = 0; i < nletters; i++) {
		fputs("  ", f);
		put_cell(f, i, color, &cur);
		color_off(f, &cur);
		legend_entry(f, t, by_letter[i], total[by_letter[i]]);
	}
	fprintf(f, "  .  free: %llu frame%s\n", (unsigned long long)nfree, nfree == 1 ? "" : "s");
out:
	free(letter);
	free(count);
	free(total);
	free(by_letter);
	free(touched);
}
