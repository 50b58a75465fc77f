//! Work the service does by itself when it comes due: automatic rotation
//! and completing scheduled key deletion. Driven by the service clock, so a
//! test with a fake clock calls [`Kms::run_due_tasks`] directly.

use std::sync::Arc;
use std::time::Duration;

use tern_core::ids::KeyId;
use tern_core::key::{KeyRecord, KeyState, RotationType};
use tern_core::time::UnixMillis;
use tokio_util::sync::CancellationToken;

use crate::audit::{audit_or_abort, service_event_record};
use crate::error::KmsResult;
use crate::kms::{fresh_material, Kms};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DueReport {
    pub rotated: usize,
    pub deleted: usize,
    /// Keys whose imported material reached its `ValidTo` and was deleted.
    pub expired: usize,
}

fn rotation_due(k: &KeyRecord, now: UnixMillis) -> bool {
    k.rotation.enabled
        && k.state == KeyState::Enabled
        && k.rotatable()
        && k.rotation.next_rotation.is_some_and(|t| t <= now)
}

/// The rotation date after one that came due: one period after the due
/// date, so a pass that runs late does not shift the schedule; after an
/// outage longer than a period, one period from now (one catch-up rotation,
/// not one per missed period).
pub(crate) fn next_rotation_after(due: Option<UnixMillis>, period_days: u32, now: UnixMillis) -> UnixMillis {
    match due.map(|d| d.plus_days(period_days)) {
        Some(next) if next > now => next,
        _ => now.plus_days(period_days),
    }
}

fn deletion_due(k: &KeyRecord, now: UnixMillis) -> bool {
    k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|t| t <= now)
}

impl Kms {
    /// Rotates every key whose automatic rotation is due and deletes every
    /// key whose waiting period has passed.
    pub async fn run_due_tasks(&self) -> KmsResult<DueReport> {
        let now = self.clock.now();
        let (rotate, delete): (Vec<KeyId>, Vec<KeyId>) = {
            let view = self.store.read();
            (
                view.keys
                    .values()
                    .filter(|k| rotation_due(k, now))
                    .map(|k| k.key_id)
                    .collect(),
                view.keys
                    .values()
                    .filter(|k| deletion_due(k, now))
                    .map(|k| k.key_id)
                    .collect(),
            )
        };
        let mut report = DueReport::default();
        // Multi-Region keys rotate and delete through the replication log.
        let (mrk_rotate, rotate): (Vec<KeyId>, Vec<KeyId>) = rotate.into_iter().partition(|k| k.is_multi_region());
        let (mrk_delete, delete): (Vec<KeyId>, Vec<KeyId>) = delete.into_iter().partition(|k| k.is_multi_region());
        for id in mrk_rotate {
            let k = self.store.read().keys.get(&id).cloned();
            if let Some(k) = k {
                report.rotated += usize::from(self.rotate_multi_region_automatically(&k, now).await?);
            }
        }
        for id in mrk_delete {
            let k = self.store.read().keys.get(&id).cloned();
            if let Some(k) = k {
                if self.delete_multi_region_copy(&k, now).await? {
                    self.forget_key(&id);
                    report.deleted += 1;
                }
            }
        }
        self.start_primary_deletions(now).await?;
        for id in rotate {
            let (root, region) = (self.root.clone(), self.region.clone());
            let (done, _) = self
                .store
                .transact(move |txn| {
                    // Re-check inside the transaction: the key may have changed.
                    let Some(k) = txn.key(&id).filter(|k| rotation_due(k, now)) else {
                        return false;
                    };
                    let mut next = (*k).clone();
                    let Ok(material) = fresh_material(&root, &id, now, Some(RotationType::Automatic)) else {
                        tracing::error!(key = %id, "automatic rotation: new material could not be wrapped; retried at the next run");
                        return false;
                    };
                    next.materials.push(material);
                    let period = next
                        .rotation
                        .period_days
                        .unwrap_or(tern_core::key::DEFAULT_ROTATION_PERIOD_DAYS);
                    next.rotation.next_rotation = Some(next_rotation_after(k.rotation.next_rotation, period, now));
                    if audit_or_abort(txn, service_event_record(
                        &region,
                        "RotateKey",
                        &next.arn(),
                        &next.account,
                        now,
                    )).is_err() {
                        return false;
                    }
                    txn.put_key(next);
                    true
                })
                .await?;
            report.rotated += usize::from(done);
        }
        for id in delete {
            let region = self.region.clone();
            let (done, _) = self
                .store
                .transact(move |txn| {
                    let Some(k) = txn.key(&id).filter(|k| deletion_due(k, now)) else {
                        return false;
                    };
                    for a in txn.aliases_of(&id) {
                        txn.delete_alias(&a.account, &a.name);
                    }
                    for g in txn.grants_of(&id) {
                        txn.delete_grant(&id, &g.grant_id);
                    }
                    if audit_or_abort(
                        txn,
                        service_event_record(&region, "DeleteKey", &k.arn(), &k.account, now),
                    )
                    .is_err()
                    {
                        return false;
                    }
                    txn.delete_key(&id);
                    true
                })
                .await?;
            if done {
                self.forget_key(&id);
                report.deleted += 1;
            }
        }
        report.expired = self.expire_imported_material(now).await?;
        Ok(report)
    }

    /// Deletes imported material past its own `ValidTo` (AWS's
    /// `DeleteExpiredKeyMaterial` event): the current material's expiry
    /// puts the key in PendingImport. Crypto
    /// operations already refuse such a key from the moment it expires.
    async fn expire_imported_material(&self, now: UnixMillis) -> KmsResult<usize> {
        let due: Vec<KeyId> = self
            .store
            .read()
            .keys
            .values()
            .filter(|k| k.imported_material_past_valid_to(now))
            .map(|k| k.key_id)
            .collect();
        let mut n = 0;
        for id in due {
            let region = self.region.clone();
            let (done, _) = self
                .store
                .transact(move |txn| {
                    let Some(k) = txn.key(&id).filter(|k| k.imported_material_past_valid_to(now)) else {
                        return false;
                    };
                    let mut next = (*k).clone();
                    if !crate::ops::import::expire_materials(&mut next, now) {
                        return false;
                    }
                    if audit_or_abort(
                        txn,
                        service_event_record(&region, "DeleteExpiredKeyMaterial", &next.arn(), &next.account, now),
                    )
                    .is_err()
                    {
                        return false;
                    }
                    txn.put_key(next);
                    true
                })
                .await?;
            if done {
                self.forget_material(&id);
                n += 1;
            }
        }
        Ok(n)
    }

    /// A primary key waiting in `PendingReplicaDeletion` whose last replica
    /// is gone starts its own waiting period.
    async fn start_primary_deletions(&self, now: UnixMillis) -> KmsResult<()> {
        let ready: Vec<KeyId> = self
            .store
            .read()
            .keys
            .values()
            .filter(|k| k.state == KeyState::PendingReplicaDeletion)
            .filter(|k| k.multi_region.as_ref().is_some_and(|m| m.replicas.is_empty()))
            .map(|k| k.key_id)
            .collect();
        for id in ready {
            self.store
                .transact(move |txn| {
                    let Some(k) = txn.key(&id).filter(|k| k.state == KeyState::PendingReplicaDeletion) else {
                        return;
                    };
                    let mut next = (*k).clone();
                    let days = next
                        .pending_window_days
                        .unwrap_or(tern_core::key::DEFAULT_PENDING_WINDOW_DAYS);
                    next.state = KeyState::PendingDeletion;
                    next.deletion_date = Some(now.plus_days(days));
                    txn.put_key(next);
                })
                .await?;
        }
        Ok(())
    }

    /// Runs [`Kms::run_due_tasks`] every `interval` until `cancel` fires.
    pub fn spawn_scheduler(
        self: Arc<Self>,
        interval: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {
                        match self.run_due_tasks().await {
                            Ok(r) if r != DueReport::default() => tracing::info!(rotated = r.rotated, deleted = r.deleted, expired = r.expired, "due tasks ran"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "due tasks failed; will retry"),
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::time::MILLIS_PER_DAY;

    #[test]
    fn next_rotation_keeps_the_schedule() {
        let day = |d: i64| UnixMillis(d * MILLIS_PER_DAY);
        // Due on day 90, run on day 91: next on day 180, not 181.
        assert_eq!(next_rotation_after(Some(day(90)), 90, day(91)), day(180));
        // Run long after: one period from now, not in the past.
        assert_eq!(next_rotation_after(Some(day(90)), 90, day(400)), day(490));
        assert_eq!(next_rotation_after(None, 90, day(5)), day(95));
    }
}
