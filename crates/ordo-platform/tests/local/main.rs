//! The local platform against real processes: `ordo-upstream` servers,
//! shells that crash, commands that do not exist, apps that never answer.
//!
//! Every test binds port 0 (the platform picks free ports), waits for
//! conditions with a deadline instead of sleeping, and ends with every
//! process it started gone.

mod support;

mod kill;
mod restarts;
mod run;
mod stop;
