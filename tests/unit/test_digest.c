/* SHA-256 digests as the registry computes and accepts them (core/digest.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/digest.h"
#include "tests/unit/check.h"

#define HEX_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* sha256 of the 56-byte FIPS 180-2 test message, which spans two blocks. */
#define MSG_TWO_BLOCKS "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define HEX_TWO_BLOCKS "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
/* sha256 of one million 'a' (FIPS 180-2). */
#define HEX_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_hashes(void)
{
	char hex[DIGEST_HEX_LEN + 1];
	static char million[1000000];
	struct digest_ctx *d;
	size_t i;

	memset(hex, 'x', sizeof hex);
	digest_hex("abc", 3, hex);
	CHECK_STR_EQ(hex, HEX_ABC, "the digest of \"abc\" is the FIPS 180-2 value ba7816bf...");
	memset(hex, 'x', sizeof hex);
	digest_hex("", 0, hex);
	CHECK_STR_EQ(hex, HEX_EMPTY, "the digest of no bytes is e3b0c442...");
	digest_hex(MSG_TWO_BLOCKS, strlen(MSG_TWO_BLOCKS), hex);
	CHECK_STR_EQ(hex, HEX_TWO_BLOCKS, "the digest of the two-block FIPS message is 248d6a61...");

	/* Streamed in uneven pieces, including empty ones. */
	d = digest_new();
	if (CHECK(d != NULL, "a streaming digest can be started")) {
		digest_update(d, "a", 1);
		digest_update(d, "", 0);
		digest_update(d, "b", 1);
		digest_update(d, "c", 1);
		memset(hex, 'x', sizeof hex);
		digest_final(d, hex);
		digest_free(d);
		CHECK_STR_EQ(hex, HEX_ABC, "\"abc\" streamed a byte at a time digests as in one piece");
	}
	d = digest_new();
	memset(hex, 'x', sizeof hex);
	hex[DIGEST_HEX_LEN] = '\0';
	if (CHECK(d != NULL, "a second streaming digest can be started")) {
		digest_update(d, MSG_TWO_BLOCKS, 7);
		digest_update(d, MSG_TWO_BLOCKS + 7, 49);
		digest_final(d, hex);
		digest_free(d);
	}
	CHECK_STR_EQ(hex, HEX_TWO_BLOCKS, "the two-block message streamed as 7 + 49 bytes digests as in one piece");
	memset(million, 'a', sizeof million);
	d = digest_new();
	memset(hex, 'x', sizeof hex);
	hex[DIGEST_HEX_LEN] = '\0';
	if (CHECK(d != NULL, "a third streaming digest can be started")) {
		for (i = 0; i < sizeof million; i += 4093)
			digest_update(d, million + i, sizeof million - i < 4093 ? sizeof million - i : 4093);
		digest_final(d, hex);
		digest_free(d);
	}
	CHECK_STR_EQ(hex, HEX_MILLION_A, "a million 'a' streamed in 4093-byte pieces digest to cdc76e5c...");
	digest_hex(million, sizeof million, hex);
	CHECK_STR_EQ(hex, HEX_MILLION_A, "a million 'a' in one piece digest to cdc76e5c...");
}

static void check_parse_rejects(const char *s, const char *what)
{
	char hex[DIGEST_HEX_LEN + 1] = "untouched";

	CHECK_INT_EQ(digest_parse(s, hex), -EINVAL, "a digest %s is rejected", what);
}

static void test_parse(void)
{
	char hex[DIGEST_HEX_LEN + 1] = "";
	char s[256];

	CHECK_INT_EQ(digest_parse("sha256:" HEX_ABC, hex), 0,
		     "\"sha256:\" and 64 lowercase hex digits is a digest");
	CHECK_STR_EQ(hex, HEX_ABC, "parsing a digest gives its 64 hex digits");
	CHECK(digest_is_hex(HEX_EMPTY), "64 lowercase hex digits are hex");
	CHECK(!digest_is_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
	      "64 uppercase hex digits are not hex in a digest");
	CHECK(!digest_is_hex(""), "the empty string is not a digest's hex");

	check_parse_rejects("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
			    "in uppercase hex");
	check_parse_rejects("sha256:Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			    "with one uppercase digit");
	check_parse_rejects("sha256:" "a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			    "of 63 hex digits");
	check_parse_rejects("sha256:" HEX_ABC "0", "of 65 hex digits");
	check_parse_rejects("sha512:" HEX_ABC HEX_ABC, "in sha512");
	check_parse_rejects("sha512:" HEX_ABC, "named sha512 with 64 digits");
	check_parse_rejects("SHA256:" HEX_ABC, "with an uppercase algorithm");
	check_parse_rejects(HEX_ABC, "without the sha256: prefix");
	check_parse_rejects("sha256" HEX_ABC, "without the colon");
	check_parse_rejects(":" HEX_ABC, "with an empty algorithm");
	check_parse_rejects("sha256:", "with no hex digits");
	check_parse_rejects("", "that is empty");
	check_parse_rejects("sha256:../" "8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00000",
			    "with \"../\" inside");
	check_parse_rejects("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200/5ad",
			    "with an embedded \"/\"");
	check_parse_rejects("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200..ad",
			    "with an embedded \"..\"");
	check_parse_rejects("sha256:" HEX_ABC "\n", "with a trailing newline");
	check_parse_rejects("sha256:" HEX_ABC " ", "with a trailing space");
	check_parse_rejects(" sha256:" HEX_ABC, "with a leading space");
	check_parse_rejects("sha256: " "a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			    "with a space after the colon");
	check_parse_rejects("sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			    "with a non-hex letter");

	/* A NUL inside the string ends it: what follows is not read as hex. */
	memcpy(s, "sha256:" HEX_ABC, 7 + 64 + 1);
	s[7 + 10] = '\0';
	check_parse_rejects(s, "cut short by a NUL");
}

int main(void)
{
	test_hashes();
	test_parse();
	return check_exit();
}
