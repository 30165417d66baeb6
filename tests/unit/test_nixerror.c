/* What a client is told of Nix's errors (nix/nixerror.c): the last error's
 * text, or its first line as a one-line reason, folded, without terminal
 * colour codes, and for a failed builder the last line of its log. */
#include "nix/nixerror.h"

#include <stdio.h>

#include "tests/unit/check.h"

static void check_text(const char *tail, const char *want, const char *what)
{
	char out[700];

	nix_error_text(tail, out, sizeof out);
	CHECK_STR_EQ(out, want, "%s", what);
}

static void check_reason(const char *tail, const char *want, const char *what)
{
	char out[400];

	nix_error_reason(tail, out, sizeof out);
	CHECK_STR_EQ(out, want, "%s", what);
}

int main(void)
{
	check_text("warning: x\nerror: attribute 'nope' missing\n(use '--show-trace' to show detailed location information)\n",
		   "error: attribute 'nope' missing (use '--show-trace' to show detailed location information)",
		   "the last error and what follows it, folded to one line");
	check_text("\033[31;1merror:\033[0m builder for '\033[35;1m/nix/store/x.drv\033[0m' failed",
		   "error: builder for '/nix/store/x.drv' failed",
		   "colour codes never reach the client");
	check_text("building\nthe compiler ran out of memory\nerror: builder for '/nix/store/x.drv' failed with exit code 1\n",
		   "error: builder for '/nix/store/x.drv' failed with exit code 1; its log ends: the compiler ran out of memory",
		   "a failed builder's message ends with the last line of its log");
	check_text("no error word here", "no error word here", "text without an error is passed on whole");
	check_text("\033[1", "", "a colour code cut short is dropped");

	check_reason("error: hello has been removed\n(use '--show-trace' to show detailed location information)\n",
		     "hello has been removed", "the reason is the first line of the error");
	check_reason("error: assertion '(false)' failed\n\n       at /x/default.nix:2:54:\n",
		     "assertion '(false)' failed", "an assertion's reason leaves out where it is");
	check_reason("error: \033[1mPackage ‘b’\033[0m is marked as broken, refusing to evaluate.\n\n       a) To temporarily allow\n",
		     "Package ‘b’ is marked as broken, refusing to evaluate.", "a refusal's reason is its first line, without colours");
	check_reason("error: first\nerror: second one\n", "second one", "of several errors, the last is the reason");
	check_reason("nothing", "evaluation failed", "without an error line the reason says evaluation failed");
	return check_exit();
}
