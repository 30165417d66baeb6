/* What a user is told of Nix's errors: the last error Nix printed, folded
 * to one line without terminal colour codes, with the last line of a
 * failed builder's log; or only its first line, as a reason. */
#include "nix/nixerror.h"

#include <stdio.h>
#include <string.h>

/* Copies text with its whitespace folded to single spaces, and without
 * terminal colour codes. */
static size_t fold(const char *from, const char *to, char *out, size_t n, size_t outlen)
{
	int space = 0;

	for (; from < to && *from && n + 1 < outlen; from++) {
		/* Colour codes (ESC [ ... letter) are for terminals, not for
		 * JSON: a daemon may send them. */
		if (*from == '\033' && from + 1 < to && from[1] == '[') {
			for (from += 2; from < to && *from && !(*from >= '@' && *from <= '~'); from++)
				;
			if (from >= to || !*from)
				break;
			continue;
		}
		if (*from == ' ' || *from == '\n' || *from == '\t' || *from == '\r') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < outlen)
			out[n++] = ' ';
		space = 0;
		out[n++] = *from;
	}
	out[n] = '\0';
	return n;
}

/* Nix's last "error:" and what follows, and for a failed builder the last
 * line it printed before (the build log's last word): what a user needs. */
void nix_error_text(const char *tail, char *out, size_t outlen)
{
	const char *best = NULL, *p = tail, *end = tail + strlen(tail);
	size_t n;

	while ((p = strstr(p, "error:"))) {
		best = p;
		p += 6;
	}
	n = fold(best ? best : tail, end, out, 0, outlen);
	if (best && best > tail && strstr(best, "failed with exit code")) {
		const char *line_end = best - 1, *line;

		while (line_end > tail && line_end[-1] == '\n')
			line_end--;
		for (line = line_end; line > tail && line[-1] != '\n'; line--)
			;
		if (line < line_end && n + 40 < outlen) {
			n += (size_t)snprintf(out + n, outlen - n, "; its log ends: ");
			fold(line, line_end, out, n, outlen);
		}
	}
}

/* The first line of Nix's last error: the reason, without the trace. */
void nix_error_reason(const char *tail, char *out, size_t outlen)
{
	const char *best = NULL, *p = tail;

	while ((p = strstr(p, "error:"))) {
		best = p + 6;
		p += 6;
	}
	if (!best) {
		snprintf(out, outlen, "evaluation failed");
		return;
	}
	best += strspn(best, " ");
	fold(best, best + strcspn(best, "\n"), out, 0, outlen);
}
