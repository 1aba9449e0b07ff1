//! People in the portal (`/people`, operators only): add operators and tenant users, grant and
//! revoke subscriptions, disable and enable, and set a new password (generated, shown once). The
//! same rules and audit entries as `meterbook user …` on the command line.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forms::{Fields, ServerForm};
use crate::island_code::IslandCode;
use crate::portal::message;
use crate::portal::views::{ChangeDone, PersonView};

/// What the people page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleData {
    pub csrf_token: String,
    pub people: Vec<PersonView>,
    /// `(display name, ID)`: the subscriptions the grant fields suggest.
    pub choices: Vec<(String, String)>,
}

#[server(endpoint = "load_people")]
pub async fn load_people() -> Result<PeopleData, ServerFnError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let view = portal()?.list_people(&viewer).await?;
    Ok(PeopleData {
        csrf_token: viewer.csrf_token.clone(),
        people: view.people,
        choices: view.choices,
    })
}

/// The datalist the grant fields suggest from: each subscription by display name, its ID beside.
const CHOICES: &str = "directory-subscriptions";

#[server(endpoint = "change_person")]
pub async fn change_person(
    csrf: String,
    op: String,
    id: Option<i64>,
    username: Option<String>,
    role: Option<String>,
    subscriptions: Option<String>,
    keep_tokens: Option<String>,
) -> Result<ChangeDone, ServerFnError> {
    use crate::portal::views::PersonChange;
    use crate::portal::{check_csrf, portal, signed_in, PortalError};
    let viewer = signed_in()?;
    if !viewer.is_operator() {
        return Err(PortalError::Forbidden("Only operators manage people".to_owned()).into());
    }
    check_csrf(&viewer, &csrf)?;
    let need_id = || id.ok_or_else(|| PortalError::Invalid("Choose a person".to_owned()));
    let subs = subscriptions.unwrap_or_default();
    let change = match op.as_str() {
        "add" => PersonChange::Add {
            username: username.unwrap_or_default(),
            role: role.unwrap_or_default(),
            subscriptions: subs,
        },
        "grant" => PersonChange::Grant {
            id: need_id()?,
            subscriptions: subs,
        },
        "revoke" => PersonChange::Revoke {
            id: need_id()?,
            subscriptions: subs,
        },
        "disable" => PersonChange::Disable { id: need_id()? },
        "enable" => PersonChange::Enable { id: need_id()? },
        "password" => PersonChange::NewPassword {
            id: need_id()?,
            keep_tokens: keep_tokens.is_some(),
        },
        other => {
            return Err(PortalError::Invalid(format!("'{other}' is not a change to people")).into())
        }
    };
    let address = crate::viewer::current_client_address();
    Ok(portal()?.change_person(&viewer, address, change).await?)
}

#[component]
pub fn PeoplePage() -> impl IntoView {
    view! {
        <h1>"People"</h1>
        <p class="period">
            "Operators see every subscription; tenant users see the subscriptions granted to them. "
            "Changes take effect on their next request and are written to the audit log."
        </p>
        <PeopleManager/>
        <IslandCode/>
    }
}

/// The forms and the list: the part of the page that runs in the browser, so a change shows
/// its outcome in place (a new secret is shown once, and only here).
#[island]
fn PeopleManager() -> impl IntoView {
    let change = ServerAction::<ChangePerson>::new();
    let data = crate::codec::page_resource(move || change.version().get(), |_| load_people());
    view! {
        <ChangeNotice change/>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading people…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <PeopleBody page change/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{message(&e)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ChangeNotice(change: ServerAction<ChangePerson>) -> impl IntoView {
    move || {
        change.value().get().map(|result| match result {
            Ok(done) => view! {
                <section class="notice created" role="status">
                    <p>{done.message.clone()}</p>
                    {done.password.clone().map(|p| view! {
                        <p>"Password (shown only now; pass it on safely): "
                            <code class="secret" data-testid="new-password">{p}</code></p>
                    })}
                </section>
            }
            .into_any(),
            Err(e) => view! { <p class="error" role="alert">{message(&e)}</p> }.into_any(),
        })
    }
}

/// A one-button form that makes `op` to one person.
fn change_call(f: &Fields) -> Option<ChangePerson> {
    Some(ChangePerson {
        csrf: f.text("csrf"),
        op: f.text("op"),
        id: f.number("id"),
        username: f.optional("username"),
        role: f.optional("role"),
        subscriptions: f.optional("subscriptions"),
        keep_tokens: f.optional("keep_tokens"),
    })
}

fn person_button(
    change: ServerAction<ChangePerson>,
    op: &'static str,
    label: &'static str,
    csrf: String,
    id: i64,
    who: &str,
) -> AnyView {
    let aria = format!("{label} {who}");
    view! {
        <ServerForm action=change call=change_call>
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="op" value=op/>
            <input type="hidden" name="id" value=id/>
            <button type="submit" class="secondary" aria-label=aria>{label}</button>
        </ServerForm>
    }
    .into_any()
}

/// A new password for one person; their API tokens are revoked unless the box is ticked.
fn password_form(change: ServerAction<ChangePerson>, csrf: String, id: i64, who: &str) -> AnyView {
    let aria = format!("New password {who}");
    let keep = format!("Keep the API tokens of {who}");
    view! {
        <ServerForm action=change call=change_call class="inline-form">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="op" value="password"/>
            <input type="hidden" name="id" value=id/>
            <label class="check" title="Leave their scripts running (a forgotten password, not a compromise)">
                <input type="checkbox" name="keep_tokens" value="on" aria-label=keep/>
                " keep API tokens"
            </label>
            <button type="submit" class="secondary" aria-label=aria>"New password"</button>
        </ServerForm>
    }
    .into_any()
}

#[component]
fn PeopleBody(page: PeopleData, change: ServerAction<ChangePerson>) -> impl IntoView {
    let csrf = page.csrf_token.clone();
    let rows = page
        .people
        .into_iter()
        .map(|p| {
            let csrf = csrf.clone();
            let who = p.username.clone();
            let tenant = p.role == "tenant";
            let state = if p.disabled { "disabled" } else { "active" };
            view! {
                <tr>
                    <th scope="row">{p.username.clone()}</th>
                    <td>{p.role.clone()}</td>
                    <td>
                        {p.subscriptions
                            .iter()
                            .zip(p.subscription_names.iter().map(Some).chain(std::iter::repeat(None)))
                            .map(|(id, name)| view! {
                                <div>
                                    {name.cloned()} " "
                                    <code class="subscription-id">{id.clone()}</code>
                                </div>
                            })
                            .collect_view()}
                    </td>
                    <td>{p.created_at.clone()}</td>
                    <td>{state}</td>
                    <td class="row-actions">
                        {if p.disabled {
                            person_button(change, "enable", "Enable", csrf.clone(), p.id, &who)
                        } else {
                            person_button(change, "disable", "Disable", csrf.clone(), p.id, &who)
                        }}
                        {password_form(change, csrf.clone(), p.id, &who)}
                        {tenant.then(|| view! {
                            <ServerForm action=change call=change_call class="inline-form">
                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                <input type="hidden" name="id" value=p.id/>
                                <label class="visually-hidden" for=format!("grant-{}", p.id)>{format!("Subscriptions for {}", p.username)}</label>
                                <input id=format!("grant-{}", p.id) name="subscriptions" list=CHOICES
                                    placeholder="name or ID" size="20" autocomplete="off"/>
                                <button type="submit" name="op" value="grant" class="secondary">"Grant"</button>
                                <button type="submit" name="op" value="revoke" class="secondary">"Revoke"</button>
                            </ServerForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="new-person-title">
            <h2 id="new-person-title">"Add a person"</h2>
            <ServerForm action=change call=change_call class="stacked-form">
                <input type="hidden" name="csrf" value=page.csrf_token.clone()/>
                <input type="hidden" name="op" value="add"/>
                <label for="person-name">"Username"</label>
                <input id="person-name" name="username" required maxlength="64" autocomplete="off"/>
                <label for="person-role">"Role"</label>
                <select id="person-role" name="role">
                    <option value="tenant">"tenant user: sees the subscriptions granted"</option>
                    <option value="operator">"operator: sees every subscription"</option>
                </select>
                <label for="person-subs">"Subscriptions (tenant users; names or IDs, separated with commas)"</label>
                <input id="person-subs" name="subscriptions" list=CHOICES autocomplete="off"/>
                <datalist id=CHOICES>
                    {page
                        .choices
                        .iter()
                        .map(|(name, id)| view! { <option value=name.clone()>{id.clone()}</option> })
                        .collect_view()}
                </datalist>
                <button type="submit">"Add"</button>
            </ServerForm>
        </section>
        <section class="card" aria-labelledby="people-title">
            <h2 id="people-title">"Everyone"</h2>
            <div class="table-scroll">
                <table class="usage-table">
                    <thead>
                        <tr>
                            <th scope="col">"Username"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Subscriptions"</th>
                            <th scope="col">"Added (UTC)"</th>
                            <th scope="col">"State"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
