//! Faults armed to fire on the k-th matching request: one queue shared by the Compute Engine,
//! Kubernetes and EC2 emulators, which differ only in what a fault matches and answers.

/// A fault that fires a number of times, then is spent.
pub(crate) trait Shots {
    /// How many more requests it fails.
    fn shots(&mut self) -> &mut usize;
}

/// A fault still to fire, and how many matching requests it lets by first.
struct Armed<F> {
    skip: usize,
    fault: F,
}

/// The faults of one emulator, in the order they were injected.
pub(crate) struct Armory<F> {
    armed: Vec<Armed<F>>,
}

impl<F> Default for Armory<F> {
    fn default() -> Self {
        Armory { armed: Vec::new() }
    }
}

impl<F: Shots + Clone> Armory<F> {
    /// Arms `fault` to let `skip` matching requests by before it fires.
    pub fn arm(&mut self, skip: usize, fault: F) {
        self.armed.push(Armed { skip, fault });
    }

    /// The fault that answers a request `matches` accepts, if any. The faults see the request
    /// in the order they were injected: one still skipping counts it and lets it by, the first
    /// one past its skip answers it (later faults do not see it). Spent faults are dropped.
    pub fn take(&mut self, matches: impl Fn(&F) -> bool) -> Option<F> {
        let mut fired = None;
        for armed in &mut self.armed {
            if *armed.fault.shots() == 0 || !matches(&armed.fault) {
                continue;
            }
            if armed.skip > 0 {
                armed.skip -= 1;
                continue;
            }
            *armed.fault.shots() -= 1;
            fired = Some(armed.fault.clone());
            break;
        }
        self.armed.retain_mut(|a| *a.fault.shots() > 0);
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Named(&'static str, usize);

    impl Shots for Named {
        fn shots(&mut self) -> &mut usize {
            &mut self.1
        }
    }

    #[test]
    fn skips_then_fires_then_is_spent_and_earlier_faults_shadow_later_ones() {
        let mut armory = Armory::default();
        armory.arm(1, Named("a", 2));
        armory.arm(0, Named("a", 1));
        armory.arm(0, Named("b", 1));
        let take = |armory: &mut Armory<Named>, name| armory.take(|f| f.0 == name).map(|f| f.1);
        // The first "a" is skipping: the second answers the first request (with 0 shots left).
        assert_eq!(take(&mut armory, "a"), Some(0));
        assert_eq!(take(&mut armory, "a"), Some(1));
        assert_eq!(take(&mut armory, "a"), Some(0));
        assert_eq!(take(&mut armory, "a"), None);
        assert_eq!(take(&mut armory, "b"), Some(0));
        assert_eq!(take(&mut armory, "b"), None);
    }
}
