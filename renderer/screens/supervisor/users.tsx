/** The station's users, their roles and whether they are locked or disabled. */
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useLoad } from '../../components/use-call.ts';

export function UsersScreen() {
  const { t } = useTranslation();
  const users = useLoad('users.list', {});
  return (
    <div>
      <h1>{t('supervisor.users')}</h1>
      <CallError error={users.error} />
      {users.result && (
        <table className="panel">
          <thead>
            <tr>
              <th scope="col">{t('supervisor.userCols.username')}</th>
              <th scope="col">{t('supervisor.userCols.role')}</th>
              <th scope="col">{t('supervisor.userCols.state')}</th>
            </tr>
          </thead>
          <tbody>
            {users.result.map((u) => (
              <tr key={u.username}>
                <td>{u.username}</td>
                <td>{t(`roles.${u.role}`)}</td>
                <td>
                  {u.disabled
                    ? t('supervisor.userState.disabled')
                    : u.locked
                      ? t('supervisor.userState.locked')
                      : t('supervisor.userState.active')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
