//! Paging of the list methods (`disks.list`, `disks.aggregatedList`, `snapshots.list`): one
//! reading of `maxResults`/`pageToken` and one `nextPageToken` rule for all of them.

use super::values::{invalid, ApiError};
use crate::http::Request;
use serde_json::{json, Value};

/// The page a list request asks for.
pub(super) struct Page {
    /// `maxResults`, 1 to 500, default 500.
    max: usize,
    /// The `pageToken`: an offset into the whole list.
    start: usize,
}

impl Page {
    pub fn of(req: &Request) -> Result<Page, ApiError> {
        let number = |name: &str, default: usize| match req.query_param(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| invalid(format!("Invalid value for {name}: '{v}'"))),
        };
        Ok(Page {
            max: number("maxResults", 500)?.clamp(1, 500),
            start: number("pageToken", 0)?,
        })
    }

    /// The items of `all` on this page.
    pub fn of_items<'a, T>(&self, all: &'a [T]) -> impl Iterator<Item = &'a T> {
        all.iter().skip(self.start).take(self.max)
    }

    /// Adds `nextPageToken` to a list answer when items of the `total` remain after this page.
    pub fn link_next(&self, answer: &mut Value, total: usize) {
        if self.start + self.max < total {
            answer["nextPageToken"] = json!((self.start + self.max).to_string());
        }
    }
}
