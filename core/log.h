/* Logging: one line per event on standard error, which every web server
 * collects into its error log. */
#ifndef NIXERY_LOG_H
#define NIXERY_LOG_H

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
