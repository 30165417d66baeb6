/* The unit tests' whole framework: one line per check,
 *   PASS: <binary>: <what is checked>
 *   FAIL: <binary>: <what is checked> (<detail>)
 * and an exit status that says whether any check failed. Each test is its
 * own program, so the counters can live here. */
#ifndef NIXERY_TESTS_CHECK_H
#define NIXERY_TESTS_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

static const char *check_binary(void)
{
	extern char *program_invocation_short_name;

	return program_invocation_short_name;
}

/* Prints the line for one check; detail (printf-style) only on failure. */
static int check_report(int ok, const char *what, const char *detail_fmt, ...)
	__attribute__((format(printf, 3, 4), unused));
static int check_report(int ok, const char *what, const char *detail_fmt, ...)
{
	if (ok) {
		check_passed++;
		printf("PASS: %s: %s\n", check_binary(), what);
	} else {
		va_list ap;

		check_failed++;
		printf("FAIL: %s: %s (", check_binary(), what);
		va_start(ap, detail_fmt);
		vprintf(detail_fmt, ap);
		va_end(ap);
		printf(")\n");
	}
	fflush(stdout);
	return ok;
}

/* The name of a check is built with printf, so a table-driven test can say
 * which row it checks. */
#define CHECK_NAME_MAX 1024

/* CHECK(cond, fmt, ...): PASS or FAIL named by fmt; the detail of a failure
 * is the condition's source text. Evaluates to cond's truth. */
#define CHECK(cond, ...) ({                                                    \
	char check_name_[CHECK_NAME_MAX];                                      \
	int check_ok_ = !!(cond);                                              \
	snprintf(check_name_, sizeof check_name_, __VA_ARGS__);                \
	check_report(check_ok_, check_name_, "%s is false", #cond);            \
})

/* CHECK_WHY(cond, why, fmt, ...): as CHECK, with the string why (an error
 * message, say) as the detail of a failure. */
#define CHECK_WHY(cond, why, ...) ({                                           \
	char check_name_[CHECK_NAME_MAX];                                      \
	int check_ok_ = !!(cond);                                              \
	const char *check_why_ = (why);                                        \
	snprintf(check_name_, sizeof check_name_, __VA_ARGS__);                \
	check_report(check_ok_, check_name_, "%s is false: %s", #cond,         \
		     check_why_ ? check_why_ : "");                            \
})

/* CHECK_STR_EQ(got, want, fmt, ...): shows both strings on failure. A NULL
 * got fails (and is shown as NULL); want must not be NULL. */
#define CHECK_STR_EQ(got, want, ...) ({                                        \
	char check_name_[CHECK_NAME_MAX];                                      \
	const char *check_got_ = (got), *check_want_ = (want);                 \
	int check_ok_ = check_got_ && strcmp(check_got_, check_want_) == 0;    \
	snprintf(check_name_, sizeof check_name_, __VA_ARGS__);                \
	check_report(check_ok_, check_name_, "got %s%s%s, want \"%s\"",        \
		     check_got_ ? "\"" : "", check_got_ ? check_got_ : "NULL", \
		     check_got_ ? "\"" : "", check_want_);                     \
})

/* CHECK_INT_EQ(got, want, fmt, ...): for integers (compared as long long). */
#define CHECK_INT_EQ(got, want, ...) ({                                        \
	char check_name_[CHECK_NAME_MAX];                                      \
	long long check_got_ = (long long)(got), check_want_ = (long long)(want); \
	snprintf(check_name_, sizeof check_name_, __VA_ARGS__);                \
	check_report(check_got_ == check_want_, check_name_, "got %lld, want %lld", \
		     check_got_, check_want_);                                 \
})

/* What main returns: 0 when every check passed. */
static int check_exit(void) __attribute__((unused));
static int check_exit(void)
{
	if (check_passed + check_failed == 0) {
		printf("FAIL: %s: no checks ran ()\n", check_binary());
		return 1;
	}
	return check_failed ? 1 : 0;
}

#endif
