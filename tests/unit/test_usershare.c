/*
 * test_usershare.c — each user's connections counted in the scoreboard
 * (ipc/usershare.c): counts add up over workers, a row at zero is given
 * to a new user once no row is free, and only when every row holds live
 * connections is a new user refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>

#include "layout.h"
#include "table.h"
#include "usershare.h"

struct board {
	struct table_header hdr;
	struct table t;
	struct worker_slot *slots;
};

static int
setup(void **state)
{
	struct board *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->slots = calloc(2, sizeof(*b->slots));
	assert_non_null(b->slots);
	b->hdr.nworkers = 2;
	b->t.hdr = &b->hdr;
	b->t.workers = b->slots;
	*state = b;
	return 0;
}

static int
teardown(void **state)
{
	struct board *b = *state;

	free(b->slots);
	free(b);
	return 0;
}

static void
test_counts_add_up_over_the_workers(void **state)
{
	struct board *b = *state;

	assert_true(usershare_add(&b->slots[0], 1000));
	assert_true(usershare_add(&b->slots[0], 1000));
	assert_true(usershare_add(&b->slots[1], 1000));
	assert_true(usershare_add(&b->slots[1], 0));
	assert_int_equal(usershare_count(&b->t, 1000), 3);
	assert_int_equal(usershare_count(&b->t, 0), 1);
	assert_int_equal(usershare_count(&b->t, 1001), 0);
	usershare_remove(&b->slots[0], 1000);
	assert_int_equal(usershare_count(&b->t, 1000), 2);
	usershare_clear(&b->slots[1]); /* its worker died: its connections went with it */
	assert_int_equal(usershare_count(&b->t, 1000), 1);
	assert_int_equal(usershare_count(&b->t, 0), 0);
}

static void
test_a_row_at_zero_goes_to_a_new_user_once_none_is_free(void **state)
{
	struct board *b = *state;
	struct worker_slot *s = &b->slots[0];

	/* Every row taken by a user who has since gone... */
	for (uint32_t u = 0; u < WORKER_USER_ROWS; u++) {
		assert_true(usershare_add(s, 2000 + u));
		usershare_remove(s, 2000 + u);
	}
	/* ...still lets new users in, and counts them. */
	assert_true(usershare_add(s, 9000));
	assert_true(usershare_add(s, 9001));
	assert_int_equal(usershare_count(&b->t, 9000), 1);
	assert_int_equal(usershare_count(&b->t, 9001), 1);
	assert_int_equal(usershare_count(&b->t, 2000), 0);
	/* A user who lost its row comes back as a new one. */
	assert_true(usershare_add(s, 2000));
	assert_int_equal(usershare_count(&b->t, 2000), 1);
}

static void
test_a_new_user_is_refused_only_when_every_row_holds_live_connections(void **state)
{
	struct board *b = *state;
	struct worker_slot *s = &b->slots[0];

	for (uint32_t u = 0; u < WORKER_USER_ROWS; u++)
		assert_true(usershare_add(s, 3000 + u));
	assert_false(usershare_add(s, 7777));
	assert_true(usershare_add(s, 3000)); /* a user with a row still counts */
	assert_int_equal(usershare_count(&b->t, 3000), 2);
	usershare_remove(s, 3001);
	assert_true(usershare_add(s, 7777));
	assert_int_equal(usershare_count(&b->t, 7777), 1);
	assert_int_equal(usershare_count(&b->t, 3001), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts_add_up_over_the_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_row_at_zero_goes_to_a_new_user_once_none_is_free,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_new_user_is_refused_only_when_every_row_holds_live_connections, setup,
			teardown),
	};

	return cmocka_run_group_tests_name("usershare", tests, NULL, NULL);
}
