"""What calling a function does beyond computing a value: the tables the classifier reads.

A read runs in a read-only transaction that is rolled back, but that wall does not stop
everything: another connection (dblink), a file, a signal to a backend, a lock or a
sequence outside the transaction, a WAL or replication-slot change, a statistics reset
or SQL given as text and run by the function itself. Any call of a function listed here
makes a statement a write (it needs an approval) and refuses a dry-run on the real source.

How the lists were built, and how to refresh them
-------------------------------------------------
PostgreSQL (12-17): from the catalog, not from memory. On a server with every contrib
extension installed (`CREATE EXTENSION` for each row of pg_available_extensions), list
the VOLATILE functions and the extension that owns each:

    SELECT DISTINCT p.proname, coalesce(e.extname, 'core')
    FROM pg_proc p
    LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
    LEFT JOIN pg_extension e ON e.oid = d.refobjid
    WHERE p.provolatile = 'v' AND p.prokind IN ('f', 'a', 'w') ORDER BY 1;

Every row was reviewed: those that change state are listed below; those that only read
or compute (random(), clock_timestamp(), pg_relation_size() …) are in
HARMLESS_VOLATILE_FUNCTIONS, used by the per-source catalog check (see
apps/queries/function_catalog.py); trigger functions, handlers and validators cannot be
called from a query and are in neither. The run was on PostgreSQL 15; names that exist
only in other versions (pg_start_backup before 15, pg_sync_replication_slots and
pg_stat_reset_backend_stats later …) come from the release notes of 12-17 and are marked.
Extensions outside contrib that run SQL given as text (pgRouting, pg_cron,
pg_background, tablefunc's crosstab) were taken from their manuals.

MySQL 8 / MariaDB 10.5+: the servers have no volatility catalog, so the lists come from
the manuals' function indexes — locking, sleep and replication-wait functions, sequence
functions, file functions — and from the UDFs of the bundled plugins and components
(keyring, audit log, firewall, version tokens, locking service, group replication, data
masking dictionaries, Spider, Mroonga, CONNECT's JSON/BSON file functions) plus the
well-known command-execution UDFs (lib_mysqludf_sys).

Names are compared in lower case, whatever the dialect: a PostgreSQL function called
"DBLINK_EXEC" (quoted, so case-sensitive) is another function, and treating it as
dblink_exec only errs on the side of an approval.
"""

from dataclasses import dataclass

from apps.sqlcore.risk import Risk


@dataclass(frozen=True)
class FunctionEffect:
    """Why calling a function is not a read."""

    reason: str
    risk: Risk


SQL_TEXT = FunctionEffect("runs SQL given as text, which the classifier cannot see", Risk.HIGH)
OTHER_CONNECTION = FunctionEffect("opens another connection, outside the read-only transaction", Risk.HIGH)
FILES = FunctionEffect("reads or writes files on the database server", Risk.HIGH)
PROCESSES = FunctionEffect("signals, starts or runs server processes or commands", Risk.HIGH)
SERVER_STATE = FunctionEffect("changes server state (WAL, replication, configuration, statistics)", Risk.HIGH)
STORAGE = FunctionEffect("changes stored data or indexes outside the transaction", Risk.HIGH)
SECRETS = FunctionEffect("reads or changes keys, audit or firewall settings", Risk.HIGH)
SEQUENCE = FunctionEffect("advances or sets a sequence, which a rollback does not undo", Risk.MEDIUM)
LOCK = FunctionEffect("takes or releases a lock that outlives the transaction", Risk.MEDIUM)
WAIT = FunctionEffect("waits or burns time on purpose", Risk.MEDIUM)
SESSION = FunctionEffect("changes session state that outlives the transaction", Risk.MEDIUM)
LARGE_OBJECT = FunctionEffect("creates, changes or exports large objects", Risk.HIGH)


def _names(effect: FunctionEffect, names: str) -> dict[str, FunctionEffect]:
    return dict.fromkeys(names.split(), effect)


FUNCTION_EFFECTS: dict[str, FunctionEffect] = {
    # --- PostgreSQL core -------------------------------------------------------------
    **_names(SQL_TEXT, "ts_stat ts_rewrite query_to_xml query_to_xmlschema query_to_xml_and_xmlschema"),
    **_names(SQL_TEXT, "cursor_to_xml cursor_to_xmlschema"),
    # They read relations named by a string, or every relation of a schema or database,
    # through SQL they build: a view's definition runs without its name in the text.
    # (pg_input_is_valid and pg_input_error_info, 16+, run a type's checks named by a string.)
    **_names(
        SQL_TEXT,
        "table_to_xml table_to_xmlschema table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema "
        "schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema database_to_xml_and_xmlschema "
        "pg_input_is_valid pg_input_error_info",
    ),
    **_names(
        PROCESSES,
        "pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_rotate_logfile_old "
        "pg_promote pg_log_backend_memory_contexts pg_wait_for_backend_termination",  # the last: 14 only
    ),
    **_names(
        FILES,
        "pg_read_file pg_read_file_old pg_read_binary_file pg_stat_file pg_ls_dir pg_ls_logdir pg_ls_waldir "
        "pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalmapdir pg_ls_logicalsnapdir pg_ls_replslotdir "
        "pg_ls_summariesdir "  # 17
        "pg_hba_file_rules pg_ident_file_mappings pg_show_all_file_settings pg_current_logfile",
    ),
    **_names(
        SERVER_STATE,
        "pg_switch_wal pg_switch_xlog pg_create_restore_point pg_start_backup pg_stop_backup "  # (<15)
        "pg_backup_start pg_backup_stop pg_wal_replay_pause pg_wal_replay_resume pg_xlog_replay_pause "
        "pg_xlog_replay_resume pg_create_logical_replication_slot pg_create_physical_replication_slot "
        "pg_copy_logical_replication_slot pg_copy_physical_replication_slot pg_drop_replication_slot "
        "pg_replication_slot_advance pg_logical_slot_get_changes pg_logical_slot_get_binary_changes "
        "pg_logical_slot_peek_changes pg_logical_slot_peek_binary_changes pg_logical_emit_message "
        "pg_sync_replication_slots "  # 17
        "pg_replication_origin_create pg_replication_origin_drop pg_replication_origin_advance "
        "pg_replication_origin_session_setup pg_replication_origin_session_reset "
        "pg_replication_origin_xact_setup pg_replication_origin_xact_reset "
        "pg_stat_reset pg_stat_reset_shared pg_stat_reset_single_table_counters "
        "pg_stat_reset_single_function_counters pg_stat_reset_slru pg_stat_reset_replication_slot "
        "pg_stat_reset_subscription_stats pg_stat_reset_backend_stats pg_stat_force_next_flush "
        "pg_stat_statements_reset pg_import_system_collations pg_nextoid pg_stop_making_pinned_objects "
        "pg_export_snapshot pg_log_standby_snapshot "  # 16
        "pg_extension_config_dump set_config pg_restore_relation_stats pg_restore_attribute_stats "  # 18
        "pg_clear_relation_stats pg_clear_attribute_stats",
    ),
    **_names(
        STORAGE,
        "brin_summarize_new_values brin_summarize_range brin_desummarize_range gin_clean_pending_list "
        "heap_force_kill heap_force_freeze pg_truncate_visibility_map pg_prewarm autoprewarm_dump_now "
        "autoprewarm_start_worker",
    ),
    **_names(
        LARGE_OBJECT,
        "lo_import lo_export lo_unlink lo_create lo_creat lo_put lo_from_bytea lo_truncate lo_truncate64 "
        "lowrite lo_open lo_close lo_lseek lo_lseek64 lo_manage",
    ),
    **_names(SEQUENCE, "nextval setval"),
    **_names(SESSION, "setseed set_limit txid_current pg_current_xact_id"),
    **_names(
        LOCK,
        "pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock pg_advisory_xact_lock_shared "
        "pg_try_advisory_lock pg_try_advisory_lock_shared pg_try_advisory_xact_lock "
        "pg_try_advisory_xact_lock_shared pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all",
    ),
    **_names(WAIT, "pg_sleep pg_sleep_for pg_sleep_until pg_notify"),
    # --- PostgreSQL contrib and common extensions --------------------------------------
    **_names(OTHER_CONNECTION, "postgres_fdw_disconnect postgres_fdw_disconnect_all"),
    **_names(FILES, "pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls xslt_process"),
    **_names(SQL_TEXT, "crosstab crosstab2 crosstab3 crosstab4 crosstab_hash connectby xpath_table"),
    **_names(SQL_TEXT, "pg_background_launch hypopg_create_index"),
    # --- MySQL and MariaDB ---------------------------------------------------------------
    **_names(WAIT, "sleep benchmark"),
    **_names(
        WAIT,
        "master_pos_wait source_pos_wait master_gtid_wait wait_for_executed_gtid_set wait_until_sql_thread_after_gtids",
    ),
    **_names(LOCK, "get_lock release_lock release_all_locks"),
    **_names(
        LOCK,
        "service_get_read_locks service_get_write_locks service_release_locks version_tokens_lock_shared "
        "version_tokens_lock_exclusive version_tokens_unlock",
    ),
    **_names(SESSION, "last_insert_id"),  # LAST_INSERT_ID(expr) sets the session's value
    **_names(SEQUENCE, "nextval setval"),  # MariaDB sequences too
    **_names(FILES, "load_file"),
    **_names(
        FILES,
        "jfile_make jfile_convert jfile_bjson json_file jbin_file bfile_make bfile_convert bfile_bjson "
        "bson_file bbin_file",
    ),
    **_names(PROCESSES, "sys_exec sys_eval sys_get sys_set sys_bineval do_system"),
    **_names(
        SECRETS,
        "keyring_key_store keyring_key_remove keyring_key_generate keyring_key_fetch keyring_key_length_fetch "
        "keyring_key_type_fetch audit_log_filter_set_filter audit_log_filter_remove_filter "
        "audit_log_filter_set_user audit_log_filter_remove_user audit_log_filter_flush "
        "audit_log_encryption_password_set audit_log_encryption_password_get audit_log_rotate audit_log_read "
        "audit_log_read_bookmark set_firewall_mode set_firewall_group_mode mysql_firewall_flush_status "
        "read_firewall_users read_firewall_whitelist firewall_group_register firewall_group_unregister "
        "firewall_group_enlist firewall_group_delist version_tokens_set version_tokens_edit "
        "version_tokens_delete",
    ),
    **_names(
        SERVER_STATE,
        "group_replication_set_as_primary group_replication_switch_to_single_primary_mode "
        "group_replication_switch_to_multi_primary_mode group_replication_set_write_concurrency "
        "group_replication_set_communication_protocol group_replication_enable_member_action "
        "group_replication_disable_member_action group_replication_reset_member_actions "
        "asynchronous_connection_failover_add_source asynchronous_connection_failover_delete_source "
        "asynchronous_connection_failover_add_managed asynchronous_connection_failover_delete_managed "
        "asynchronous_connection_failover_reset load_rewrite_rules",
    ),
    **_names(
        STORAGE,
        "gen_dictionary_load gen_dictionary_drop masking_dictionary_term_add masking_dictionary_term_remove "
        "masking_dictionary_remove",
    ),
    **_names(
        OTHER_CONNECTION,
        "spider_direct_sql spider_bg_direct_sql spider_ping_table spider_copy_tables "
        "spider_flush_table_mon_cache mroonga_command",
    ),
    # --- SQLite (the CLI's and common loadable extensions' functions) --------------------
    **_names(PROCESSES, "load_extension"),
    **_names(FILES, "readfile writefile edit fsdir"),
    **_names(STORAGE, "fts3_tokenizer"),
}

# Families whose every member is named for what it does; new members appear with new
# server and extension versions, so the prefix is the rule.
FUNCTION_PREFIX_EFFECTS: dict[str, FunctionEffect] = {
    "dblink": OTHER_CONNECTION,  # dblink, dblink_exec, dblink_connect_u, dblink_send_query …
    "pgr_": SQL_TEXT,  # pgRouting: every routing function takes its graph as SQL text
    "lo_": LARGE_OBJECT,
    "pg_advisory": LOCK,
    "pg_try_advisory": LOCK,
    "pg_stat_reset": SERVER_STATE,
    "pg_file_": FILES,
    "pg_ls_": FILES,
    "pg_read_": FILES,
    "pg_replication_origin_": SERVER_STATE,
    "pg_logical_slot_": SERVER_STATE,
    "binary_upgrade_": SERVER_STATE,
    "heap_force_": STORAGE,
    "pg_wal_replay_": SERVER_STATE,
    "keyring_": SECRETS,
    "audit_log_": SECRETS,
    "spider_": OTHER_CONNECTION,
}

_PREFIXES = tuple(FUNCTION_PREFIX_EFFECTS)

# Schema-qualified functions whose bare names are too common to list alone.
QUALIFIED_FUNCTION_EFFECTS: dict[tuple[str, str], FunctionEffect] = {
    ("cron", "schedule"): SQL_TEXT,
    ("cron", "schedule_in_database"): SQL_TEXT,
    ("cron", "alter_job"): SQL_TEXT,
    ("cron", "unschedule"): SERVER_STATE,
}

# Harmless read-only-in-effect exceptions to the prefixes above.
_PREFIX_EXCEPTIONS = frozenset(
    {"lo_get", "pg_replication_origin_progress", "pg_replication_origin_session_is_setup"}
    | {"pg_replication_origin_session_progress", "pg_replication_origin_oid"}
)


def effect_of(name: str, qualifier: str | None = None, *, exact: bool = False) -> FunctionEffect | None:
    """The effect of calling `name` (any case), or None for a function that only computes.
    `exact`: families count only for dblink (the one that reaches another server)."""
    name = name.lower()
    if qualifier is not None and (effect := QUALIFIED_FUNCTION_EFFECTS.get((qualifier.lower(), name))):
        return effect
    effect = FUNCTION_EFFECTS.get(name)
    if effect is not None or name in _PREFIX_EXCEPTIONS:
        return effect
    if exact:
        return OTHER_CONNECTION if name.startswith("dblink") else None
    if not name.startswith(_PREFIXES):  # one C call for the common case: no family
        return None
    return next(effect for prefix, effect in FUNCTION_PREFIX_EFFECTS.items() if name.startswith(prefix))


# VOLATILE in PostgreSQL's catalog, yet harmless in a read: they compute, read the clock,
# draw random numbers or report sizes and statistics. Reviewed one by one from the catalog
# query above; everything else VOLATILE (including every user-defined function left at
# CREATE FUNCTION's default volatility) makes a read a write on the source that has it.
HARMLESS_VOLATILE_FUNCTIONS = frozenset(
    """
    random random_normal clock_timestamp timeofday gen_random_uuid uuidv4 uuidv7 uuid_generate_v1
    uuid_generate_v1mc uuid_generate_v4 gen_random_bytes gen_salt pgp_sym_encrypt pgp_sym_encrypt_bytea
    pgp_pub_encrypt pgp_pub_encrypt_bytea normal_rand currval lastval pg_sequence_last_value current_query
    pg_database_size pg_relation_size pg_table_size pg_indexes_size pg_total_relation_size
    pg_tablespace_size pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn
    pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_last_xact_replay_timestamp pg_is_in_recovery
    pg_is_wal_replay_paused pg_get_wal_replay_pause_state pg_get_wal_resource_managers pg_control_checkpoint
    pg_control_init pg_control_recovery pg_control_system pg_blocking_pids pg_safe_snapshot_blocking_pids
    pg_isolation_test_session_is_blocked pg_lock_status pg_prepared_xact pg_partition_tree
    pg_partition_ancestors pg_jit_available pg_notification_queue_usage pg_get_backend_memory_contexts
    pg_get_shmem_allocations pg_get_multixact_members pg_xact_commit_timestamp
    pg_xact_commit_timestamp_origin pg_xact_status txid_status pg_last_committed_xact pg_stat_have_stats
    pg_stat_clear_snapshot pg_stat_get_recovery_prefetch pg_stat_get_xact_blocks_fetched
    pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls pg_stat_get_xact_function_self_time
    pg_stat_get_xact_function_total_time pg_stat_get_xact_numscans pg_stat_get_xact_tuples_deleted
    pg_stat_get_xact_tuples_fetched pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted
    pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated pg_collation_actual_version
    pg_database_collation_actual_version pg_show_replication_origin_status pg_replication_origin_progress
    pg_replication_origin_session_is_setup pg_replication_origin_session_progress pg_stat_statements
    pg_stat_statements_info pg_visibility pg_visibility_map pg_visibility_map_summary pg_check_frozen
    pg_check_visible pgstattuple pgstattuple_approx pgstatindex pgstatginindex pgstathashindex pg_relpages
    pgrowlocks pg_freespace pg_buffercache_pages pg_old_snapshot_time_mapping bt_index_check
    bt_index_parent_check verify_heapam system_rows system_time bernoulli system lo_get
    ssl_cipher ssl_client_cert_present ssl_client_dn ssl_client_dn_field ssl_client_serial
    ssl_extension_info ssl_is_used ssl_issuer_dn ssl_issuer_field ssl_version
    pg_get_wal_record_info pg_get_wal_records_info pg_get_wal_records_info_till_end_of_wal
    pg_get_wal_stats pg_get_wal_stats_till_end_of_wal get_raw_page page_header page_checksum
    heap_page_items heap_page_item_attrs heap_tuple_infomask_flags tuple_data_split fsm_page_contents
    bt_metap bt_page_items bt_page_stats brin_metapage_info brin_page_items brin_page_type
    brin_revmap_data gin_leafpage_items gin_metapage_info gin_page_opaque_info gist_page_items
    gist_page_items_bytea gist_page_opaque_info hash_bitmap_info hash_metapage_info hash_page_items
    hash_page_stats hash_page_type amvalidate
    """.split()  # noqa: SIM905  (one name a word, as in the tables above)
)
