//! Sequence numbers: numbering this node's publications per topic, and finding gaps in
//! other nodes' numbers (messages lost between their `PUBLISH` and our subscription).
//!
//! Both maps are bounded. When one is full it is cleared: a publisher then starts its
//! topics again at 1, which receivers read as a restart (a number not above the last),
//! never as a gap; a receiver that forgets simply takes the next number as a new start.

use std::collections::HashMap;

/// Most topics or (node, topic) pairs remembered.
const MAX_ENTRIES: usize = 65_536;

/// The next number of each topic this node publishes on.
#[derive(Default)]
pub(crate) struct Numbering {
    next: HashMap<String, u64>,
}

impl Numbering {
    pub(crate) fn next(&mut self, topic: &str) -> u64 {
        if let Some(n) = self.next.get_mut(topic) {
            *n += 1;
            return *n;
        }
        if self.next.len() >= MAX_ENTRIES {
            self.next.clear();
        }
        self.next.insert(topic.to_string(), 1);
        1
    }
}

/// The last number seen from each node, per topic.
#[derive(Default)]
pub(crate) struct Gaps {
    last: HashMap<String, HashMap<u64, u64>>,
    entries: usize,
}

impl Gaps {
    /// Records `seq` from `node` on `topic`; returns how many numbers were skipped.
    pub(crate) fn observe(&mut self, node: u64, topic: &str, seq: u64) -> u64 {
        if let Some(last) = self.last.get_mut(topic).and_then(|m| m.get_mut(&node)) {
            let gap = if seq > *last { seq - *last - 1 } else { 0 };
            *last = seq;
            return gap;
        }
        if self.entries >= MAX_ENTRIES {
            self.last.clear();
            self.entries = 0;
        }
        self.entries += 1;
        match self.last.get_mut(topic) {
            Some(m) => {
                m.insert(node, seq);
            }
            None => {
                self.last
                    .insert(topic.to_string(), HashMap::from([(node, seq)]));
            }
        }
        0
    }

    /// Forgets a topic this process no longer receives.
    pub(crate) fn forget_topic(&mut self, topic: &str) {
        if let Some(m) = self.last.remove(topic) {
            self.entries -= m.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_per_topic() {
        let mut n = Numbering::default();
        assert_eq!((n.next("a"), n.next("a"), n.next("b")), (1, 2, 1));
    }

    #[test]
    fn gaps_restarts_and_forgetting() {
        let mut g = Gaps::default();
        assert_eq!(g.observe(1, "t", 5), 0, "a first number is a start");
        assert_eq!(g.observe(1, "t", 6), 0);
        assert_eq!(g.observe(1, "t", 9), 2);
        assert_eq!(g.observe(2, "t", 1), 0, "another node");
        assert_eq!(g.observe(1, "t", 1), 0, "a restart is not a gap");
        assert_eq!(g.observe(1, "t", 2), 0);
        g.forget_topic("t");
        assert_eq!(g.observe(1, "t", 10), 0);
    }
}
