package cn.gridsync.demo.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.*
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.*
import androidx.compose.runtime.*
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.navigation.NavHostController
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import cn.gridsync.demo.R
import cn.gridsync.demo.logic.*
import uniffi.gridsync_ffi.*

/** The app: enrolment first, then tabs for households, search, incidents and conflicts. */
@Composable
fun GridsyncNavigation(model: MainViewModel = viewModel()) {
    val enrolled by model.enrolled.collectAsStateWithLifecycle()
    val message by model.message.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    LaunchedEffect(message) {
        message?.let { snackbar.showSnackbar(it); model.messageShown() }
    }
    if (!enrolled) {
        Scaffold(snackbarHost = { SnackbarHost(snackbar) }) { padding -> EnrolScreen(model, Modifier.padding(padding)) }
        return
    }
    val nav = rememberNavController()
    Scaffold(
        topBar = { SyncBar(model) },
        bottomBar = {
            NavigationBar {
                listOf(
                    "households" to R.string.households,
                    "search" to R.string.search,
                    "incidents" to R.string.incidents,
                    "conflicts" to R.string.conflicts,
                ).forEach { (route, label) ->
                    NavigationBarItem(selected = false, onClick = { nav.navigate(route) }, icon = {},
                        label = { Text(stringResource(label), maxLines = 1) })
                }
            }
        },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        NavHost(nav, startDestination = "households", modifier = Modifier.padding(padding)) {
            composable("households") { HouseholdListScreen(model, nav) }
            composable("household/{id}") { HouseholdScreen(model, nav, it.arguments?.getString("id").orEmpty()) }
            composable("person/new/{household}") {
                PersonScreen(model, nav, null, it.arguments?.getString("household"))
            }
            composable("person/{id}") { PersonScreen(model, nav, it.arguments?.getString("id"), null) }
            composable("search") { SearchScreen(model, nav) }
            composable("incidents") { IncidentListScreen(model, nav) }
            composable("incident/{id}") { IncidentScreen(model, it.arguments?.getString("id").orEmpty()) }
            composable("conflicts") { ConflictScreen(model) }
        }
    }
}

@Composable
fun SyncBar(model: MainViewModel) {
    val sync by model.sync.collectAsStateWithLifecycle()
    val pending by model.pending.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxWidth().padding(8.dp)) {
        Row(verticalAlignment = androidx.compose.ui.Alignment.CenterVertically) {
            Text(stringResource(R.string.pending, pending.toInt()), Modifier.weight(1f))
            if (sync.running) {
                TextButton(onClick = model::cancelSync) { Text(stringResource(R.string.cancel)) }
            } else {
                Button(onClick = model::syncNow) { Text(stringResource(R.string.sync)) }
            }
        }
        if (sync.running) {
            val fraction = sync.fraction
            if (fraction != null) LinearProgressIndicator(progress = { fraction }, Modifier.fillMaxWidth())
            else LinearProgressIndicator(Modifier.fillMaxWidth())
        }
        sync.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}

@Composable
fun EnrolScreen(model: MainViewModel, modifier: Modifier = Modifier) {
    var url by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    var ca by remember { mutableStateOf("") }
    Column(modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(stringResource(R.string.enrol), style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(url, { url = it }, label = { Text(stringResource(R.string.center_url)) }, singleLine = true)
        OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enrol_code)) }, singleLine = true)
        OutlinedTextField(ca, { ca = it }, label = { Text(stringResource(R.string.ca_certificate)) }, minLines = 3)
        Button(onClick = { model.enrol(url, code, ca) }) { Text(stringResource(R.string.enrol)) }
    }
}

@Composable
fun HouseholdListScreen(model: MainViewModel, nav: NavHostController) {
    val households by model.households.collectAsStateWithLifecycle()
    var address by remember { mutableStateOf("") }
    var number by remember { mutableStateOf("") }
    Column(Modifier.padding(16.dp)) {
        Row {
            OutlinedTextField(number, { number = it }, label = { Text(stringResource(R.string.household_no)) },
                modifier = Modifier.weight(1f))
            OutlinedTextField(address, { address = it }, label = { Text(stringResource(R.string.address)) },
                modifier = Modifier.weight(2f))
        }
        Button(onClick = {
            model.saveHousehold(address, number) { result ->
                if (result is SaveResult.Saved) { address = ""; number = "" }
            }
        }) { Text(stringResource(R.string.add_household)) }
        LazyColumn {
            items(households, key = { it.id }) { household ->
                ListItem(
                    headlineContent = { Text(household.address) },
                    supportingContent = { Text(household.householdNo + "  " + household.tags.joinToString(" ")) },
                    modifier = Modifier.clickable { nav.navigate("household/${household.id}") },
                )
            }
        }
    }
}

@Composable
fun HouseholdScreen(model: MainViewModel, nav: NavHostController, id: String) {
    var detail by remember { mutableStateOf<HouseholdDetail?>(null) }
    var purpose by remember { mutableStateOf("") }
    var finding by remember { mutableStateOf("") }
    LaunchedEffect(id) { model.household(id) { detail = it } }
    val shown = detail ?: return
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            Text(shown.household.address, style = MaterialTheme.typography.titleLarge)
            Text(stringResource(R.string.members), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.members, key = { it.id }) { member ->
            ListItem(headlineContent = { Text(member.name) },
                supportingContent = { Text(member.birthDate + " " + (member.relationship ?: "")) },
                modifier = Modifier.clickable { nav.navigate("person/${member.id}") })
        }
        item {
            TextButton(onClick = { nav.navigate("person/new/$id") }) { Text(stringResource(R.string.add_person)) }
            Text(stringResource(R.string.visits), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.visits, key = { it.id }) { visit ->
            ListItem(headlineContent = { Text(visit.purpose) }, supportingContent = { Text("${visit.findings}") })
        }
        item {
            OutlinedTextField(purpose, { purpose = it }, label = { Text(stringResource(R.string.purpose)) })
            OutlinedTextField(finding, { finding = it }, label = { Text(stringResource(R.string.finding)) })
            Button(onClick = {
                model.logVisit(id, purpose, finding)
                purpose = ""; finding = ""
                model.household(id) { detail = it }
            }) { Text(stringResource(R.string.log_visit)) }
        }
    }
}

/** Add or edit a person; a rule a field breaks is shown on that field. */
@Composable
fun PersonScreen(model: MainViewModel, nav: NavHostController, id: String?, householdId: String?) {
    var form by remember { mutableStateOf(PersonForm(householdId = householdId, relationship = householdId?.let { "02" })) }
    // The person as the screen read it: the save writes only what differs from it.
    var opened by remember { mutableStateOf<PersonForEdit?>(null) }
    var errors by remember { mutableStateOf(emptyMap<String, String>()) }
    val duplicate = stringResource(R.string.already_registered)
    LaunchedEffect(id) { if (id != null) model.person(id) { read, readForm -> opened = read; form = readForm } }
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(stringResource(if (id == null) R.string.add_person else R.string.edit_person),
            style = MaterialTheme.typography.headlineSmall)
        Field(stringResource(R.string.name), form.name, errors["name"]) { form = form.copy(name = it) }
        Field(stringResource(R.string.id_number), form.idNumber, errors["id_number"] ?: errors["gender"]) {
            form = form.withIdNumber(it)
        }
        Field(stringResource(R.string.birth_date), form.birthDate, errors["birth_date"]) { form = form.copy(birthDate = it) }
        Field(stringResource(R.string.phone), form.phone, errors["phone"]) { form = form.copy(phone = it) }
        Button(onClick = {
            model.savePerson(id, opened, form) { result ->
                when (result) {
                    is SaveResult.Saved -> nav.popBackStack()
                    is SaveResult.Invalid -> errors = result.fieldErrors
                    is SaveResult.Duplicate -> { errors = mapOf("id_number" to duplicate); nav.navigate("person/${result.existingId}") }
                }
            }
        }) { Text(stringResource(R.string.save)) }
    }
}

@Composable
private fun Field(label: String, value: String, error: String?, onChange: (String) -> Unit) {
    OutlinedTextField(value, onChange, label = { Text(label) }, isError = error != null,
        supportingText = { if (error != null) Text(error) }, singleLine = true, modifier = Modifier.fillMaxWidth())
}

@Composable
fun SearchScreen(model: MainViewModel, nav: NavHostController) {
    var query by remember { mutableStateOf("") }
    var found by remember { mutableStateOf(emptyList<PersonRow>()) }
    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(query, {
            query = it
            model.search(it) { rows -> found = rows }
        }, label = { Text(stringResource(R.string.search)) }, singleLine = true, modifier = Modifier.fillMaxWidth())
        LazyColumn {
            items(found, key = { it.id }) { person ->
                ListItem(headlineContent = { Text(person.name) },
                    supportingContent = { Text((person.idNumber?.takeLast(4)?.let { "…$it " } ?: "") + person.birthDate) },
                    modifier = Modifier.clickable { nav.navigate("person/${person.id}") })
            }
        }
    }
}

@Composable
fun IncidentListScreen(model: MainViewModel, nav: NavHostController) {
    val incidents by model.incidents.collectAsStateWithLifecycle()
    var title by remember { mutableStateOf("") }
    var category by remember { mutableStateOf("矛盾纠纷/邻里纠纷") }
    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(title, { title = it }, label = { Text(stringResource(R.string.title)) }, singleLine = true)
        OutlinedTextField(category, { category = it }, label = { Text(stringResource(R.string.category)) }, singleLine = true)
        Button(onClick = { model.reportIncident(title, category) { if (it is SaveResult.Saved) title = "" } }) {
            Text(stringResource(R.string.report_incident))
        }
        LazyColumn {
            items(incidents, key = { it.id }) { incident ->
                ListItem(
                    headlineContent = { Text(incident.title) },
                    supportingContent = {
                        Text(incident.status.name + (if (incident.urgent) " 加急" else "") +
                            (if (incident.needsReview) " · " + stringResource(R.string.needs_review) else ""))
                    },
                    modifier = Modifier.clickable { nav.navigate("incident/${incident.id}") },
                )
            }
        }
    }
}

/** An incident's timeline and the steps its status allows now. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun IncidentScreen(model: MainViewModel, id: String) {
    var view by remember { mutableStateOf<IncidentView?>(null) }
    var note by remember { mutableStateOf("") }
    LaunchedEffect(id) { model.incident(id) { view = it } }
    val shown = view ?: return
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            Text(shown.incident.title, style = MaterialTheme.typography.titleLarge)
            Text(shown.state.status.name)
            shown.state.review.forEach { Text("${stringResource(R.string.needs_review)}: ${it.step} / ${it.by}") }
            Text(stringResource(R.string.timeline), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.incident.timeline, key = { it.id }) { entry ->
            ListItem(headlineContent = { Text(entry.step.name) }, supportingContent = { Text(entry.by + " " + entry.note) })
        }
        item {
            Text(stringResource(R.string.next_steps), style = MaterialTheme.typography.titleMedium)
            OutlinedTextField(note, { note = it }, singleLine = true)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                shown.nextSteps.forEach { step -> // the worker's own steps only (the center takes 督办)
                    OutlinedButton(onClick = {
                        model.takeStep(id, step, note) { note = ""; model.incident(id) { view = it } }
                    }) { Text(step.name) }
                }
            }
        }
    }
}

/** Records whose fields hold concurrent values: keep one value per field. */
@Composable
fun ConflictScreen(model: MainViewModel) {
    val items by model.conflicts.collectAsStateWithLifecycle()
    LazyColumn(Modifier.padding(16.dp)) {
        items(items, key = { it.row.id }) { item ->
            Text("${item.row.kind} ${item.row.id.take(8)}", style = MaterialTheme.typography.titleMedium)
            item.conflicts.forEach { conflict ->
                Text(conflict.field)
                conflict.values.forEach { value ->
                    Row(verticalAlignment = androidx.compose.ui.Alignment.CenterVertically) {
                        Text("${value.valueJson} — ${value.worker}", Modifier.weight(1f))
                        TextButton(onClick = { model.resolve(item.row.id, conflict.field, value.valueJson) }) {
                            Text(stringResource(R.string.keep_this))
                        }
                    }
                }
            }
        }
    }
}
