//! What every face's handlers share, below the faces: the sync API (`http`) and the
//! console both take it, and neither imports the other for it.

use std::sync::Arc;

use crate::center::Center;
use crate::limits::RateLimits;
use crate::read_model::ReadModel;

/// The center every handler shares: no lock, each request runs in its own transaction.
pub type Shared = Arc<Center>;

/// What every handler shares: the center, the rate limiters and the console's read model.
#[derive(Debug, Clone)]
pub struct AppState {
    pub center: Shared,
    pub limits: Arc<RateLimits>,
    /// The console's cookies are `Secure` when the center serves TLS.
    pub secure_cookies: bool,
    /// What the console's lists and searches read (`read_model`).
    pub read_model: Arc<ReadModel>,
}
