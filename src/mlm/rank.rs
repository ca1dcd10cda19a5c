//! Ordering vocabulary logits: top-k and the lazily extended full ranking the descriptor
//! harvest walks through.

use serde::Serialize;

/// The vocabulary logits at one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits(Vec<f32>);

/// One ranked vocabulary entry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    pub id: u32,
    pub score: f32,
}

/// Descending logit, ties by ascending id: the order of a stable sort on vocab order, which is
/// what the reference's harvest sees.
fn before(a: (u32, f32), b: (u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl Logits {
    pub fn new(values: Vec<f32>) -> Self {
        Self(values)
    }

    pub fn values(&self) -> &[f32] {
        &self.0
    }

    pub fn get(&self, id: u32) -> Option<f32> {
        self.0.get(id as usize).copied()
    }

    /// The `k` best entries. Uses selection, not a full sort: O(V + k log k).
    pub fn top_k(&self, k: usize) -> Vec<Prediction> {
        let mut idx: Vec<(u32, f32)> = self.0.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
        let k = k.min(idx.len());
        if k == 0 {
            return Vec::new();
        }
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, |a, b| before(*a, *b));
            idx.truncate(k);
        }
        idx.sort_by(|a, b| before(*a, *b));
        idx.into_iter().map(|(id, score)| Prediction { id, score }).collect()
    }

    /// All entries best first, computed in growing blocks so a harvest that stops after a few
    /// dozen entries never sorts the whole vocabulary.
    pub fn ranked(&self) -> Ranked<'_> {
        Ranked { logits: self, block: Vec::new(), pos: 0, done: 0 }
    }
}

/// Iterator over [`Logits::ranked`].
pub struct Ranked<'a> {
    logits: &'a Logits,
    block: Vec<Prediction>,
    pos: usize,
    /// How many of the best entries `block` holds.
    done: usize,
}

impl Iterator for Ranked<'_> {
    type Item = Prediction;

    fn next(&mut self) -> Option<Prediction> {
        if self.pos == self.block.len() {
            let total = self.logits.0.len();
            if self.done >= total {
                return None;
            }
            let want = (self.done * 4).max(64).min(total); // not clamp: it panics when total < 64
            let top = self.logits.top_k(want);
            self.block = top[self.done..].to_vec();
            self.pos = 0;
            self.done = want;
            if self.block.is_empty() {
                return None;
            }
        }
        let p = self.block[self.pos];
        self.pos += 1;
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_id() {
        let l = Logits::new(vec![0.5, 2.0, 2.0, -1.0, 3.0]);
        let ids: Vec<u32> = l.top_k(3).iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![4, 1, 2]);
    }

    #[test]
    fn ranked_equals_full_sort_across_blocks() {
        let values: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1009) as f32 / 10.0).collect();
        let l = Logits::new(values.clone());
        let mut expect: Vec<u32> = (0..1000).collect();
        expect.sort_by(|&a, &b| before((a, values[a as usize]), (b, values[b as usize])));
        let got: Vec<u32> = l.ranked().map(|p| p.id).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn ranked_walks_vocabularies_smaller_than_a_block() {
        let l = Logits::new(vec![0.1, 0.9, 0.5]);
        let got: Vec<u32> = l.ranked().map(|p| p.id).collect();
        assert_eq!(got, vec![1, 2, 0]);
    }
}
