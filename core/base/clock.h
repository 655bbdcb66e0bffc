/* Seconds on a monotonic clock, for the steps' and runs' times in reports. */
#ifndef PT2_BASE_CLOCK_H
#define PT2_BASE_CLOCK_H

double pt2_now_seconds(void);

#endif
