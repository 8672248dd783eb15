/*
 * main.c — dshmd's entry point: options, then the master.
 */
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "options.h"

int
main(int argc, char **argv, char **envp)
{
	static struct options o;

	setproctitle_init(argc, argv, envp);
	options_parse(&o, argc, argv);
	log_set_level((enum log_level)o.log_level);
	return master_run(&o);
}
