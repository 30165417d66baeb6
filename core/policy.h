/* Who may cause Nix work and which packages may be asked for: the
 * operator's rules (NIXERY_BUILD_USERS, NIXERY_ALLOW_PACKAGES,
 * NIXERY_DENY_PACKAGES) applied to the user the web server authenticated
 * and to the names in an image path. Pure: no I/O, no state.
 *
 * Lists are words separated by spaces or commas. A package pattern is
 * matched against a dotted attribute path as names are matched to
 * attributes (core/image.h, image.nix): ignoring case, and a component
 * written with nixpkgs' '_' before a leading digit ("_1password") also
 * matches the name without it ("1password"). '*' matches any run of
 * characters, dots included ("python3Packages.*"), '?' one character,
 * [...] one of a set. */
#ifndef NIXERY_POLICY_H
#define NIXERY_POLICY_H

#include <stddef.h>

/* The longest user name and package pattern taken. */
#define POLICY_WORD_MAX 128

/* A user name as a web server passes it (REMOTE_USER) or a setting lists
 * it: 1 to POLICY_WORD_MAX bytes, no control character, space or comma
 * (UTF-8 is fine). Anything else is not a name this registry trusts. */
int policy_user_valid(const char *user);
/* A package pattern: letters, digits and . _ - + * ? [ ] ! */
int policy_pattern_valid(const char *pattern);

/* Checks every word of a list with valid; 0, or -EINVAL with the first
 * bad word (cut to fit) in bad. An empty list is bad too. */
int policy_list_valid(const char *list, int (*valid)(const char *word), char *bad, size_t badlen);

/* Whether user (NULL: the web server authenticated nobody) may cause Nix
 * work under build_users (NIXERY_BUILD_USERS; NULL: anyone may): listed,
 * or any authenticated user when the list has "*". */
int policy_may_build(const char *build_users, const char *user);

/* Whether a package name of an image path may be asked for: matched by a
 * pattern of allow (NULL: every name is) and by none of deny (NULL:
 * none). */
int policy_package_allowed(const char *allow, const char *deny, const char *name);

#endif
