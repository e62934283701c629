/*
 * The CUnit runner: every suite from the generated registry. Exits non-zero
 * when any test fails. An argument names one suite to run alone.
 */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../../lib/log.h"

int unit_register(void);

int
main(int argc, char **argv)
{
	unsigned failed;

	/* As in the server's sessions: a write to a peer that has gone
	 * (a TLS test's client child that gave up on a loaded machine)
	 * fails with EPIPE, which the test reports, instead of killing the
	 * whole run. */
	(void)signal(SIGPIPE, SIG_IGN);
	log_open("unit", true);
	log_set_level(LOG_WARNING);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (unit_register() != 0) {
		fprintf(stderr, "registry: %s\n", CU_get_error_msg());
		return 2;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	if (argc > 1) {
		CU_pSuite s = CU_get_suite(argv[1]);

		if (s == NULL) {
			fprintf(stderr, "no suite %s\n", argv[1]);
			return 2;
		}
		CU_basic_run_suite(s);
	} else {
		CU_basic_run_tests();
	}
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_tests_failed();
	if (CU_get_run_summary() == NULL)
		failed++;
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
