//! openraft's own storage test suite (`openraft::testing::Suite`) against
//! tern's log store and state machine: the contract openraft relies on for
//! safety (log reads, truncation, purge, vote, applied state and membership,
//! snapshot build and install), checked on fresh RocksDB directories.

use openraft::testing::{StoreBuilder, Suite};

use crate::log_store::LogStore;
use crate::state_machine::{tests::machine, StateMachine};
use crate::types::{StorageError, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let log = LogStore::open(&dir.path().join("log"))
            .map_err(|e| openraft::StorageIOError::write(&std::io::Error::other(e)))?;
        let sm = machine(dir.path());
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}
