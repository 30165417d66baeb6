#define _GNU_SOURCE   /* FNM_CASEFOLD */
#include "core/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#define SEPARATORS " \t,"

int policy_user_valid(const char *user)
{
	size_t len = user ? strlen(user) : 0;
	const unsigned char *p;

	if (len == 0 || len > POLICY_WORD_MAX)
		return 0;
	for (p = (const unsigned char *)user; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == ',')
			return 0;
	return 1;
}

int policy_pattern_valid(const char *pattern)
{
	size_t len = pattern ? strlen(pattern) : 0;

	return len > 0 && len <= POLICY_WORD_MAX &&
	       strspn(pattern, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+*?[]!") == len;
}

/* The next word of a list after *p, into word (NUL-terminated); 0 at the
 * end. A word longer than the buffer is cut, and then matches nothing a
 * valid word would: policy_list_valid refuses it at load. */
static int next_word(const char **p, char *word, size_t len)
{
	size_t n;

	*p += strspn(*p, SEPARATORS);
	if (!**p)
		return 0;
	n = strcspn(*p, SEPARATORS);
	snprintf(word, len, "%.*s", (int)n, *p);
	*p += n;
	return 1;
}

int policy_list_valid(const char *list, int (*valid)(const char *word), char *bad, size_t badlen)
{
	char word[POLICY_WORD_MAX + 2];
	const char *p = list;
	int words = 0;

	while (next_word(&p, word, sizeof word)) {
		if (!valid(word)) {
			snprintf(bad, badlen, "%s", word);
			return -EINVAL;
		}
		words++;
	}
	if (!words)
		snprintf(bad, badlen, "(an empty list)");
	return words ? 0 : -EINVAL;
}

int policy_may_build(const char *build_users, const char *user)
{
	char word[POLICY_WORD_MAX + 2];
	const char *p = build_users;

	if (!build_users)
		return 1;
	if (!policy_user_valid(user))
		return 0;
	while (next_word(&p, word, sizeof word))
		if (strcmp(word, "*") == 0 || strcmp(word, user) == 0)
			return 1;
	return 0;
}

/* A pattern as names are matched: a '_' that only stands before a
 * leading digit of a component goes (a name cannot begin with '_'); case
 * is fnmatch's to ignore. */
static void normalize(const char *pattern, char *out, size_t len)
{
	size_t o = 0;
	const char *p;

	for (p = pattern; *p && o + 1 < len; p++) {
		int starts = p == pattern || p[-1] == '.';

		if (starts && *p == '_' && isdigit((unsigned char)p[1]))
			continue;
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* Whether a pattern of list matches name. */
static int listed(const char *list, const char *name)
{
	char word[POLICY_WORD_MAX + 2], pattern[POLICY_WORD_MAX + 2];
	const char *p = list;

	while (next_word(&p, word, sizeof word)) {
		normalize(word, pattern, sizeof pattern);
		if (fnmatch(pattern, name, FNM_CASEFOLD) == 0)
			return 1;
	}
	return 0;
}

int policy_package_allowed(const char *allow, const char *deny, const char *name)
{
	if (allow && !listed(allow, name))
		return 0;
	return !(deny && listed(deny, name));
}
