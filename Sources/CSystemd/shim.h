// CSystemd: sd_notify and sd_journal_send, imported only by SystemdSupport.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
